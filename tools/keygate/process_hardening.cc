#include "tools/keygate/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
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

void HideArgumentValues(int argc, char** argv,
                        std::initializer_list<std::string_view> flags) {
  for (int i = 1; i < argc && argv[i] != nullptr; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    for (const std::string_view flag : flags) {
      if (arg == flag) {
        // "--flag VALUE": the next argument is the value ("--" never is:
        // the parser refuses it as one, and it ends the flags).
        if (i + 1 < argc && argv[i + 1] != nullptr &&
            std::string_view(argv[i + 1]) != "--") {
          ++i;
          std::memset(argv[i], '*', std::strlen(argv[i]));
        }
        break;
      }
      if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag &&
          arg[flag.size()] == '=') {
        std::memset(argv[i] + flag.size() + 1, '*',
                    arg.size() - flag.size() - 1);
        break;
      }
    }
  }
}

void HideArguments(int argc, char** argv,
                   const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty() || secret == "-") continue;
    for (int i = 1; i < argc && argv[i] != nullptr; ++i) {
      if (secret == argv[i]) std::memset(argv[i], '*', secret.size());
    }
  }
}

}  // namespace keygate::tool
