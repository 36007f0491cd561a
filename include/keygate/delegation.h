// keygate/delegation.h: what a keygate token may do to tokens and accounts.
//
// A management caller is either the host's own identity (e.g. a JWT
// administrator of the organization) or a keygate token, i.e. a verified
// Principal. The host's own identity is not subject to the rules here; a
// token caller is, so that a token can never grant more than it holds:
//   1. scopes   a token creates tokens only with scopes it holds itself,
//               after write=>read and wildcard expansion ("read:*" and
//               "write:*" must be held literally, see CheckTokenDelegation);
//   2. expiry   a token creates tokens that expire no later than it does;
//   3. reach    a token acts on its own service account only, unless it holds
//               the matching "<action>:service_accounts" scope;
//   4. enabling a token never re-enables a disabled service account.
// These checks come on top of the route's own scope check (e.g.
// "write:tokens" to create a token, done by Store::Verify's required_scope);
// they never replace it. Every refusal is a PermissionDenied status that
// names the rule (DelegationRuleOf) and that ProblemFromStatus maps to a 403
// delegation problem (docs/delegation.md, docs/problem-details.md).
//
// Every function here is thread-safe, never fails other than as documented,
// and reads only its arguments.
#ifndef KEYGATE_DELEGATION_H_
#define KEYGATE_DELEGATION_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "keygate/principal.h"
#include "keygate/token.h"

namespace keygate {

// DelegationRule names the rule a delegation refusal enforces.
enum class DelegationRule {
  kNone = 0,             // not a delegation refusal
  kScopeNotHeld,         // rule 1: requested a scope the caller lacks
  kExpiryBeyondCaller,   // rule 2: the new token would outlive the caller
  kOtherServiceAccount,  // rule 3: another account, without the scope
  kReenableAccount,      // rule 4: tokens never re-enable an account
};

// ScopeAction is the action part of a scope: read, write or delete.
enum class ScopeAction { kRead, kWrite, kDelete };

// AccountUpdate is a change a management call makes to a service account.
enum class AccountUpdate { kRename, kDisable, kEnable, kDelete };

// CheckTokenDelegation returns OK if the token caller `caller` may create a
// token described by `spec` (rules 1 and 2), or PermissionDenied naming the
// first rule broken:
//   kScopeNotHeld: a scope of spec.scopes (checked in order) is not held.
//     "read:<m>" needs read or write on <m> (granted by "read:<m>",
//     "write:<m>", "read:*" or "write:*"); "write:<m>" needs write on <m>;
//     "delete:<m>" needs exactly "delete:<m>" (write never implies delete).
//     "read:*" needs the caller to hold "read:*" or "write:*" literally, and
//     "write:*" needs "write:*": holding every module one by one is not
//     enough, since modules can be added to the catalog later. A scope that
//     does not parse (bad grammar, a module outside the store's catalog,
//     "delete:*", surrounding spaces, ...) is treated as not held; the store
//     would refuse it with InvalidArgument anyway, so hosts should validate
//     the spec first (the store's CreateToken does) to give the 422.
//   kExpiryBeyondCaller: the caller has an expiry and spec.expires_at is
//     absent (never expires) or later than it. An equal expiry is allowed;
//     a caller without expiry may choose any expiry.
// Scopes are checked before the expiry. Does not check reach: call
// CheckServiceAccountReach for the target account too.
// REQUIRES: caller.valid(). An invalid Principal (no token, i.e. a host bug:
// the host's own identity must not call this) fails closed with Internal.
absl::Status CheckTokenDelegation(const Principal& caller,
                                  const TokenSpec& spec);

// CheckServiceAccountReach returns OK if the token caller `caller` may act
// with `action` on the tokens of service account `account` of its own
// organization (rule 3), or PermissionDenied kOtherServiceAccount. Its own
// account (byte-equal to caller.service_account()) is always in reach;
// another account needs "<action>:service_accounts" (write implies read).
// Hosts pass kRead to list tokens, kWrite to create or revoke a token, and
// kWrite/kDelete for account changes (see CheckAccountUpdate).
// REQUIRES: the host scopes the store call to caller.organization();
// caller.valid() (an invalid Principal fails closed with Internal).
absl::Status CheckServiceAccountReach(const Principal& caller,
                                      std::string_view account,
                                      ScopeAction action);

// CheckAccountUpdate returns OK if the token caller `caller` may make
// `update` to service account `account` of its own organization, or
// PermissionDenied: kReenableAccount for every kEnable (re-enabling would
// bring back tokens whose scopes and expiries the caller may not hold; hosts
// ask for kEnable whenever the request sets disabled=false, whatever the
// account's current state), else kOtherServiceAccount if the account is out
// of reach (CheckServiceAccountReach with kWrite for rename and disable,
// kDelete for delete). The route's own scope ("write:service_accounts",
// "delete:service_accounts") is still the host's check.
// REQUIRES: as CheckServiceAccountReach.
absl::Status CheckAccountUpdate(const Principal& caller,
                                std::string_view account,
                                AccountUpdate update);

// DelegationRuleOf returns the rule a status from the functions above
// enforces, or kNone for any other status (including OK, a status of another
// code carrying the payload, or a corrupt payload).
DelegationRule DelegationRuleOf(const absl::Status& status);

// DelegationRuleName returns a stable lowercase name for `rule`
// ("scope_not_held", "expiry_beyond_caller", "other_service_account",
// "reenable_account"; "none" for kNone or an out-of-range value), for logs
// and metrics.
std::string_view DelegationRuleName(DelegationRule rule);

// DelegationScopeOf returns the scope a delegation refusal names: the
// requested scope the caller does not hold (kScopeNotHeld), or the
// "<action>:service_accounts" scope that would give reach
// (kOtherServiceAccount). Empty for other rules, other statuses, and for a
// scope that is not a well-formed scope (it is then never echoed). A scope
// is validated grammar ("<action>:<module>"), never a secret.
std::string DelegationScopeOf(const absl::Status& status);

}  // namespace keygate

#endif  // KEYGATE_DELEGATION_H_
