// tools/keygate/process_hardening.h: process-wide protections the `keygate`
// command applies before it reads any secret.
#ifndef KEYGATE_TOOLS_KEYGATE_PROCESS_HARDENING_H_
#define KEYGATE_TOOLS_KEYGATE_PROCESS_HARDENING_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

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

// HideArgumentValues overwrites with '*', in place in `argv`, the value of
// every occurrence of the long flags `flags` (e.g. {"--postgres"}), in both
// forms: "--postgres X" (every byte of the next argument) and
// "--postgres=X" (every byte after the '='). argv's strings are the memory
// the kernel shows to every local user in /proc/<pid>/cmdline (and so in
// `ps`), for as long as the process runs: a connection string's password
// there is readable by anyone on the machine. Call it once the command-line
// parser has copied the values (the parser's copies are then the only
// ones). Arguments after "--" are operands, never flags: left alone. The
// lengths stay (the bytes, not the layout, are rewritten), so the kernel's
// view of the argument area stays consistent. What was readable before the
// call (from exec until then) cannot be taken back: a value that must stay
// secret belongs in the environment or a file (README). Not thread-safe
// with anything else reading argv.
void HideArgumentValues(int argc, char** argv,
                        std::initializer_list<std::string_view> flags);

// HideArguments overwrites with '*', in place in `argv`, every argument
// (operands after "--" included) equal to one of `secrets`: a token given
// as an operand (`keygate token verify kg_...`) rather than on stdin. Empty
// strings and "-" (the stdin placeholder) are not secrets and are left
// alone. The same caveats as HideArgumentValues: argv was readable from
// exec until the call, so stdin remains the way to keep a token out of
// `ps` (and of shell history) altogether.
void HideArguments(int argc, char** argv,
                   const std::vector<std::string>& secrets);

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_PROCESS_HARDENING_H_
