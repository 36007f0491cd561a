// keygate/service_account.h: service account value types.
#ifndef KEYGATE_SERVICE_ACCOUNT_H_
#define KEYGATE_SERVICE_ACCOUNT_H_

#include <optional>
#include <string>

#include "absl/time/time.h"

namespace keygate {

// ServiceAccountSpec is the input of Store::CreateServiceAccount.
struct ServiceAccountSpec {
  // Display name: 1-200 bytes of valid UTF-8 without control characters.
  std::string name;
  // Optional slug (pattern ^[a-z0-9][a-z0-9-]*[a-z0-9]$, 2-100 chars, unique
  // per organization). Default: derived from the name plus a random suffix.
  std::optional<std::string> slug;
};

// ServiceAccountPatch is the input of Store::UpdateServiceAccount: each field
// that is set is changed, the others are left as they are.
struct ServiceAccountPatch {
  // New display name, same rules as ServiceAccountSpec::name. Default: unset,
  // the name is kept.
  std::optional<std::string> name;
  // Disable (every token of the account fails Verify) or re-enable the
  // account. Default: unset, the state is kept.
  std::optional<bool> disabled;

  // empty reports whether the patch changes nothing.
  bool empty() const { return !name.has_value() && !disabled.has_value(); }
};

// ServiceAccount is a service account as stored.
struct ServiceAccount {
  std::string organization;
  std::string slug;
  std::string name;
  bool disabled = false;
  absl::Time created_at;
  std::string created_by;
  absl::Time updated_at;
  std::string updated_by;
};

}  // namespace keygate

#endif  // KEYGATE_SERVICE_ACCOUNT_H_
