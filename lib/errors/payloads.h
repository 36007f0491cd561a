// lib/errors/payloads.h: the absl::Status payloads behind keygate/errors.h,
// for keygate's own layers (the store, storage and the problem-details
// adapter). Not public API.
#ifndef KEYGATE_LIB_ERRORS_PAYLOADS_H_
#define KEYGATE_LIB_ERRORS_PAYLOADS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "keygate/errors.h"

namespace keygate::internal {

// Payload type URLs. Field errors: a private length-prefixed encoding read
// with FieldErrorsOf. Verify failure: one byte, the VerifyFailure value.
// Required scope: the scope's bytes, set only on PermissionDenied.
inline constexpr char kFieldErrorsTypeUrl[] = "type.keygate.dev/field-errors";
inline constexpr char kVerifyFailureTypeUrl[] =
    "type.keygate.dev/verify-failure";
inline constexpr char kRequiredScopeTypeUrl[] =
    "type.keygate.dev/required-scope";
// Store in use: set (empty) only on the FailedPrecondition of a lock
// conflict; read with keygate::IsStoreInUse.
inline constexpr char kStoreInUseTypeUrl[] = "type.keygate.dev/store-in-use";

// VerifyError builds the status Store::Verify returns for `failure`: one
// identical Unauthenticated "invalid token" for every reason but scope, which
// is PermissionDenied "insufficient scope: requires <required_scope>" and
// also carries the scope as a payload for the problem adapter's
// WWW-Authenticate header. Both carry the reason for VerifyFailureOf.
// kNone (a caller bug) fails closed: Unauthenticated with no reason.
absl::Status VerifyError(VerifyFailure failure,
                         std::string_view required_scope = {});

// StoreInUseError returns a FailedPrecondition status with `message` that
// carries the store-in-use payload IsStoreInUse reads.
absl::Status StoreInUseError(std::string_view message);

// RequiredScopeOf returns the scope a PermissionDenied status from
// VerifyError names, or nullopt for any other status (or an oversized
// payload). The bytes are returned as stored: the caller validates them
// before putting them in a header.
std::optional<std::string> RequiredScopeOf(const absl::Status& status);

}  // namespace keygate::internal

#endif  // KEYGATE_LIB_ERRORS_PAYLOADS_H_
