// lib/delegation/delegation.cc: a token never grants more than it holds
// (see keygate/delegation.h and docs/delegation.md).
//
// A refusal carries the rule (one byte) and, where it helps the client, a
// scope as absl::Status payloads, so ProblemFromStatus can build a fixed
// detail without parsing the message. Readers re-validate both, because a
// status can be built by anyone.
#include "keygate/delegation.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "lib/base/absl_view.h"
#include "lib/scope/scope.h"

namespace keygate {
namespace {

// Payload type URLs (documented in docs/problem-details.md). Rule: one byte,
// the DelegationRule value. Scope: the scope's bytes, set only when it is a
// well-formed scope.
constexpr char kDelegationRuleTypeUrl[] = "type.keygate.dev/delegation-rule";
constexpr char kDelegationScopeTypeUrl[] = "type.keygate.dev/delegation-scope";

constexpr std::string_view kReadServiceAccounts = "read:service_accounts";
constexpr std::string_view kWriteServiceAccounts = "write:service_accounts";
constexpr std::string_view kDeleteServiceAccounts = "delete:service_accounts";

// IsWellFormedScope reports whether `scope` follows the scope grammar
// ("read|write|delete:<module>", "read:*", "write:*"), whatever the catalog:
// only such a scope is ever echoed in a message or a payload.
bool IsWellFormedScope(std::string_view scope) {
  const size_t colon = scope.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view verb = scope.substr(0, colon);
  const std::string_view module = scope.substr(colon + 1);
  if (verb != "read" && verb != "write" && verb != "delete") return false;
  if (module == "*") return verb != "delete";
  return scope::IsValidModuleName(module);
}

bool HoldsLiterally(const Principal& caller, std::string_view scope) {
  const std::vector<std::string>& held = caller.scopes();
  return std::find(held.begin(), held.end(), scope) != held.end();
}

// Holds reports whether `caller` holds `requested` in the sense of rule 1.
// A requested wildcard needs a held wildcard: Principal::HasScope would also
// accept every module held one by one, which must not be enough because the
// catalog may grow.
bool Holds(const Principal& caller, std::string_view requested) {
  if (requested == "read:*") {
    return HoldsLiterally(caller, "read:*") ||
           HoldsLiterally(caller, "write:*");
  }
  if (requested == "write:*") return HoldsLiterally(caller, "write:*");
  // HasScope parses with the store's catalog: malformed scopes, unknown
  // modules and "delete:*" are never granted.
  return caller.HasScope(requested);
}

absl::Status Refusal(DelegationRule rule, std::string message,
                     std::string_view scope = {}) {
  absl::Status status = absl::PermissionDeniedError(message);
  status.SetPayload(
      kDelegationRuleTypeUrl,
      absl::Cord(std::string(1, static_cast<char>(static_cast<int>(rule)))));
  if (!scope.empty() && IsWellFormedScope(scope)) {
    status.SetPayload(kDelegationScopeTypeUrl, absl::Cord(AbslView(scope)));
  }
  return status;
}

absl::Status ScopeNotHeld(std::string_view scope) {
  if (!IsWellFormedScope(scope)) {
    // Not echoed: it may be anything the client sent.
    return Refusal(DelegationRule::kScopeNotHeld,
                   "delegation: a token cannot grant a scope it does not hold");
  }
  return Refusal(DelegationRule::kScopeNotHeld,
                 absl::StrCat("delegation: a token cannot grant scope \"",
                              AbslView(scope), "\", which it does not hold"),
                 scope);
}

absl::Status NotATokenCaller() {
  return absl::InternalError(
      "delegation: the caller is not a verified token (host bug)");
}

std::string_view ServiceAccountsScope(ScopeAction action) {
  switch (action) {
    case ScopeAction::kRead:
      return kReadServiceAccounts;
    case ScopeAction::kWrite:
      return kWriteServiceAccounts;
    case ScopeAction::kDelete:
      return kDeleteServiceAccounts;
  }
  // An out-of-range action asks for the strongest scope there is to ask for.
  return kDeleteServiceAccounts;
}

}  // namespace

absl::Status CheckTokenDelegation(const Principal& caller,
                                  const TokenSpec& spec) {
  if (!caller.valid()) return NotATokenCaller();
  for (const std::string& requested : spec.scopes) {
    if (!Holds(caller, requested)) return ScopeNotHeld(requested);
  }
  const std::optional<absl::Time> limit = caller.expires_at();
  if (limit.has_value()) {
    if (!spec.expires_at.has_value()) {
      return Refusal(DelegationRule::kExpiryBeyondCaller,
                     "delegation: a token that expires cannot create a token "
                     "that never expires");
    }
    if (*spec.expires_at > *limit) {
      return Refusal(DelegationRule::kExpiryBeyondCaller,
                     "delegation: a token cannot create a token that expires "
                     "after it does");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckServiceAccountReach(const Principal& caller,
                                      std::string_view account,
                                      ScopeAction action) {
  if (!caller.valid()) return NotATokenCaller();
  if (account == caller.service_account()) return absl::OkStatus();
  const std::string_view needed = ServiceAccountsScope(action);
  if (caller.HasScope(needed)) return absl::OkStatus();
  return Refusal(
      DelegationRule::kOtherServiceAccount,
      absl::StrCat("delegation: a token acts on its own service account only; "
                   "another account requires scope \"",
                   AbslView(needed), "\""),
      needed);
}

absl::Status CheckAccountUpdate(const Principal& caller,
                                std::string_view account,
                                AccountUpdate update) {
  if (!caller.valid()) return NotATokenCaller();
  switch (update) {
    case AccountUpdate::kRename:
    case AccountUpdate::kDisable:
      return CheckServiceAccountReach(caller, account, ScopeAction::kWrite);
    case AccountUpdate::kDelete:
      return CheckServiceAccountReach(caller, account, ScopeAction::kDelete);
    case AccountUpdate::kEnable:
      break;
  }
  // kEnable, or an out-of-range value: refuse.
  return Refusal(DelegationRule::kReenableAccount,
                 "delegation: a token cannot re-enable a service account");
}

DelegationRule DelegationRuleOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kPermissionDenied) {
    return DelegationRule::kNone;
  }
  absl::optional<absl::Cord> payload = status.GetPayload(kDelegationRuleTypeUrl);
  if (!payload.has_value() || payload->size() != 1) {
    return DelegationRule::kNone;
  }
  const auto value = static_cast<unsigned char>(std::string(*payload)[0]);
  if (value < static_cast<unsigned char>(DelegationRule::kScopeNotHeld) ||
      value > static_cast<unsigned char>(DelegationRule::kReenableAccount)) {
    return DelegationRule::kNone;
  }
  return static_cast<DelegationRule>(value);
}

std::string_view DelegationRuleName(DelegationRule rule) {
  switch (rule) {
    case DelegationRule::kNone:
      return "none";
    case DelegationRule::kScopeNotHeld:
      return "scope_not_held";
    case DelegationRule::kExpiryBeyondCaller:
      return "expiry_beyond_caller";
    case DelegationRule::kOtherServiceAccount:
      return "other_service_account";
    case DelegationRule::kReenableAccount:
      return "reenable_account";
  }
  return "none";
}

std::string DelegationScopeOf(const absl::Status& status) {
  const DelegationRule rule = DelegationRuleOf(status);
  if (rule != DelegationRule::kScopeNotHeld &&
      rule != DelegationRule::kOtherServiceAccount) {
    return {};
  }
  absl::optional<absl::Cord> payload =
      status.GetPayload(kDelegationScopeTypeUrl);
  // The longest well-formed scope is "delete:" plus a 64-byte module.
  if (!payload.has_value() || payload->size() > 128) return {};
  std::string scope(*payload);
  if (!IsWellFormedScope(scope)) return {};
  return scope;
}

}  // namespace keygate
