// tools/keygate/process_hardening.h: process-wide protections the `keygate`
// command applies before it reads any secret.
#ifndef KEYGATE_TOOLS_KEYGATE_PROCESS_HARDENING_H_
#define KEYGATE_TOOLS_KEYGATE_PROCESS_HARDENING_H_

#include "absl/status/status.h"

namespace keygate::tool {

// DisableCoreDumps makes a crash of this process leave no core file, so the
// secrets in its memory (token values being created, the pepper, a JWT
// secret) never reach the disk:
//   - RLIMIT_CORE soft and hard limits 0: no core file when core_pattern is
//     a file name. The hard limit cannot be raised again by an unprivileged
//     process, and the limit is inherited by children and kept across exec.
//   - PR_SET_DUMPABLE 0: no core at all, also when core_pattern pipes to a
//     program (the kernel ignores RLIMIT_CORE then); unless the administrator
//     set fs.suid_dumpable=2, whose dumps only root can read. It also stops
//     other processes of the same user from ptrace-attaching or reading
//     /proc/<pid>/mem. Reset by exec of another program.
// OK when both are in effect; Internal naming the failed call otherwise
// (the process is then left as hardened as the calls that succeeded made
// it). Process-wide and idempotent; call it before reading any secret.
absl::Status DisableCoreDumps();

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_PROCESS_HARDENING_H_
