// keygate/errors.h: the vocabulary of keygate's absl::Status results.
//
// Every fallible keygate call returns absl::Status or absl::StatusOr. The
// codes mean:
//   InvalidArgument     bad input; FieldErrorsOf() lists each offending field.
//                       Nothing was changed.
//   NotFound            the resource does not exist for this organization
//                       (another organization's resource reads the same).
//   AlreadyExists       a slug or name conflict; FieldErrorsOf() names it.
//   ResourceExhausted   the organization's active-token quota is reached.
//   Unauthenticated     verify failed; VerifyFailureOf() tells why (for logs
//                       and metrics only: clients must see one answer).
//   PermissionDenied    verify succeeded but the token lacks the scope, or
//                       a delegation rule refuses a token caller
//                       (DelegationRuleOf in keygate/delegation.h).
//   FailedPrecondition  the resource's state refuses the call (CreateToken on
//                       a disabled service account), or the store cannot be
//                       used as asked (locked by another process, which
//                       IsStoreInUse() tells; wrong pepper; closed).
//   Unavailable         storage is temporarily unable to serve; retry.
//   Internal/DataLoss   a bug or corrupt storage; details are for the log.
#ifndef KEYGATE_ERRORS_H_
#define KEYGATE_ERRORS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace keygate {

// FieldError names one invalid input. `field` is the parameter's name as the
// reference API spells it: "organization", "serviceAccountSlug", "tokenSlug",
// "name", "slug", "scopes[1]", "expiresAt", "actor", "cursor", "limit",
// "token", "scope". `value` is the offending input truncated to a safe length
// with invalid bytes escaped; it is empty where the input is a secret.
struct FieldError {
  std::string field;
  std::string message;
  std::string value;
};

// ValidationError returns an InvalidArgument status that carries `errors`
// (as a status payload, so it survives being passed on). The status message,
// for logs, names each field and message but never a value. At most 100
// errors are kept and each member is cut to 1024 bytes.
// REQUIRES: !errors.empty() (an empty list still yields InvalidArgument,
// carrying no field errors).
absl::Status ValidationError(std::vector<FieldError> errors);

// ConflictError returns an AlreadyExists status, message
// "conflict: <field> already in use", that carries `error`.
absl::Status ConflictError(FieldError error);

// FieldErrorsOf returns the field errors carried by `status`, in order, or an
// empty vector if it carries none or the payload is corrupt (never crashes).
std::vector<FieldError> FieldErrorsOf(const absl::Status& status);

// SafeValue returns `input` truncated to at most 64 bytes (never inside a
// UTF-8 sequence) with control characters (C0, DEL, C1, U+2028/2029, bidi
// overrides and isolates) and each invalid UTF-8 byte (overlongs, surrogates,
// above U+10FFFF, stray or truncated sequences) replaced by '?', suitable for
// FieldError::value. The result is valid UTF-8 and SafeValue is idempotent.
std::string SafeValue(std::string_view input);

// VerifyFailure is the internal reason a verification failed.
enum class VerifyFailure {
  kNone = 0,           // not a verify failure
  kMalformed,          // wrong prefix, length, alphabet or checksum
  kUnknown,            // well-formed, but no such token
  kRevoked,            // the token was revoked
  kExpired,            // the token's expiry has passed
  kAccountDisabled,    // its service account is disabled
  kInsufficientScope,  // valid token without the required scope
  kFleetLeaseLapsed,   // valid token, but this process of a fleet has not
                       // heard from its database within the lease, or has
                       // not applied what it heard (Options::fleet_lease):
                       // it refuses every token until it catches up
};

// VerifyFailureOf returns the reason carried by a status from Store::Verify,
// or kNone for any other status, including one whose code does not match the
// reason.
VerifyFailure VerifyFailureOf(const absl::Status& status);

// VerifyFailureName returns a stable lowercase name ("malformed", ...).
std::string_view VerifyFailureName(VerifyFailure failure);

// IsStoreInUse reports whether `status` is Store::Open's FailedPrecondition
// refusal because another process (or another open Store in this process)
// holds the store's lock. It reads a status payload, never the message text;
// false for any other status, including one whose code is not
// FailedPrecondition.
bool IsStoreInUse(const absl::Status& status);

}  // namespace keygate

#endif  // KEYGATE_ERRORS_H_
