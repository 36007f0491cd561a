#include "tools/keygate/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace keygate::tool {

absl::Status DisableCoreDumps() {
  const struct rlimit none = {0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot disable core dumps: setrlimit(RLIMIT_CORE): ",
                     std::generic_category().message(errno)));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot disable core dumps: prctl(PR_SET_DUMPABLE): ",
                     std::generic_category().message(errno)));
  }
  return absl::OkStatus();
}

}  // namespace keygate::tool
