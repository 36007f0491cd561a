#include "lib/scope/scope.h"

#include <utility>

namespace keygate::scope {

namespace {

// SplitScope splits "action:module"; false if malformed.
bool SplitScope(std::string_view scope, Action* action,
                std::string_view* module) {
  const size_t colon = scope.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view verb = scope.substr(0, colon);
  *module = scope.substr(colon + 1);
  if (verb == "read") {
    *action = Action::kRead;
  } else if (verb == "write") {
    *action = Action::kWrite;
  } else if (verb == "delete") {
    *action = Action::kDelete;
  } else {
    return false;
  }
  if (*module == "*") return *action != Action::kDelete;
  return IsValidModuleName(*module);
}

}  // namespace

bool IsValidModuleName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

ScopeCatalog::ScopeCatalog(std::vector<std::string> modules)
    : modules_(std::move(modules)) {
  all_ = modules_.size() >= 64 ? ~uint64_t{0}
                               : (uint64_t{1} << modules_.size()) - 1;
}

std::optional<RequiredScope> ScopeCatalog::Parse(
    std::string_view scope) const noexcept {
  Action action;
  std::string_view module;
  if (!SplitScope(scope, &action, &module)) return std::nullopt;
  if (module == "*") return RequiredScope{action, kAnyModule};
  for (size_t i = 0; i < modules_.size(); ++i) {
    if (modules_[i] == module) {
      return RequiredScope{action, static_cast<int>(i)};
    }
  }
  return std::nullopt;
}

ScopeMask ScopeCatalog::Compile(const std::vector<std::string>& scopes) const {
  ScopeMask mask;
  for (const std::string& scope : scopes) {
    std::optional<RequiredScope> parsed = Parse(scope);
    if (!parsed) continue;
    const uint64_t bits = parsed->module == kAnyModule
                              ? all_
                              : uint64_t{1} << parsed->module;
    switch (parsed->action) {
      case Action::kWrite:
        mask.write |= bits;
        mask.read |= bits;
        break;
      case Action::kRead:
        mask.read |= bits;
        break;
      case Action::kDelete:
        mask.del |= bits;
        break;
    }
  }
  return mask;
}

bool ScopeCatalog::Grants(const ScopeMask& mask,
                          const RequiredScope& required) const noexcept {
  const uint64_t granted = required.action == Action::kRead    ? mask.read
                           : required.action == Action::kWrite ? mask.write
                                                               : mask.del;
  // An empty catalog has nothing a wildcard could cover: never grant it.
  if (required.module == kAnyModule) {
    return all_ != 0 && (granted & all_) == all_;
  }
  return (granted >> required.module) & 1;
}

}  // namespace keygate::scope
