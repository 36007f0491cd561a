// lib/scope/scope.h: the scope grammar and its compiled form.
//
// A scope is "<action>:<module>" with action read|write|delete, or one of the
// wildcards "read:*" and "write:*". Write implies read; "write:*" implies
// "read:*". There is no "delete:*": deletion is always granted per module.
#ifndef KEYGATE_LIB_SCOPE_SCOPE_H_
#define KEYGATE_LIB_SCOPE_SCOPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keygate::scope {

enum class Action : uint8_t { kRead = 0, kWrite = 1, kDelete = 2 };

inline constexpr size_t kMaxModules = 64;
inline constexpr int kAnyModule = -1;

// IsValidModuleName: 1-64 chars of [a-z0-9_], starting with a letter.
bool IsValidModuleName(std::string_view name);

// ScopeMask is a compiled set of granted scopes: one bit per module per
// action, with write already folded into read.
struct ScopeMask {
  uint64_t read = 0;
  uint64_t write = 0;
  uint64_t del = 0;
};

// RequiredScope is a parsed scope to check against a ScopeMask.
struct RequiredScope {
  Action action;
  int module;  // index in the catalog, or kAnyModule for "*"
};

// ScopeCatalog knows the configured modules. Immutable; thread-safe.
class ScopeCatalog {
 public:
  // REQUIRES: every module IsValidModuleName, no duplicates, <= kMaxModules.
  explicit ScopeCatalog(std::vector<std::string> modules);

  // Parse parses one scope; nullopt if malformed or the module is unknown.
  // "delete:*" is not a scope.
  std::optional<RequiredScope> Parse(std::string_view scope) const noexcept;

  // Compile folds valid, parsed scopes into a mask.
  ScopeMask Compile(const std::vector<std::string>& scopes) const;

  // Grants reports whether `mask` covers `required` ("read:*" needs read on
  // every module of the catalog).
  bool Grants(const ScopeMask& mask, const RequiredScope& required) const noexcept;

  const std::vector<std::string>& modules() const { return modules_; }

 private:
  std::vector<std::string> modules_;
  uint64_t all_ = 0;
};

}  // namespace keygate::scope

#endif  // KEYGATE_LIB_SCOPE_SCOPE_H_
