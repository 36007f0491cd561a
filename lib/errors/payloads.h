// lib/errors/payloads.h: the absl::Status payloads behind keygate/errors.h,
// for keygate's own layers (the problem-details adapter). Not public API.
#ifndef KEYGATE_LIB_ERRORS_PAYLOADS_H_
#define KEYGATE_LIB_ERRORS_PAYLOADS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace keygate::internal {

// Payload type URLs. Field errors: a private length-prefixed encoding read
// with FieldErrorsOf. Verify failure: one byte, the VerifyFailure value.
// Required scope: the scope's bytes, set only on PermissionDenied.
inline constexpr char kFieldErrorsTypeUrl[] = "type.keygate.dev/field-errors";
inline constexpr char kVerifyFailureTypeUrl[] =
    "type.keygate.dev/verify-failure";
inline constexpr char kRequiredScopeTypeUrl[] =
    "type.keygate.dev/required-scope";

// RequiredScopeOf returns the scope a PermissionDenied status from
// VerifyError names, or nullopt for any other status (or an oversized
// payload). The bytes are returned as stored: the caller validates them
// before putting them in a header.
std::optional<std::string> RequiredScopeOf(const absl::Status& status);

}  // namespace keygate::internal

#endif  // KEYGATE_LIB_ERRORS_PAYLOADS_H_
