// lib/errors/errors.cc: keygate's status vocabulary (see keygate/errors.h).
//
// Field errors, the verify-failure reason and the required scope travel as
// absl::Status payloads, so they survive any layer that passes a status on
// unchanged. The payload encodings are private to this file; readers decode
// defensively because a status can be built by anyone.
#include "keygate/errors.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/types/optional.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "lib/base/absl_view.h"
#include "lib/base/utf8.h"
#include "lib/errors/payloads.h"

namespace keygate {
namespace {

// Field-errors payload: version byte 1, then for each error three strings
// (field, message, value), each a 4-byte little-endian length then bytes.
constexpr char kFieldErrorsVersion = 1;
// Bounds on what a status carries, so one careless producer cannot make a
// status huge. Encoding enforces them; decoding refuses anything beyond
// (kMaxFieldErrors * 3 * (4 + kMaxFieldErrorBytes) + 1 < the payload cap).
constexpr size_t kMaxFieldErrors = 100;
constexpr size_t kMaxFieldErrorBytes = 1024;
constexpr size_t kMaxFieldErrorsPayload = 1 << 20;

// Appends `s` cut to kMaxFieldErrorBytes (a byte cut: a split UTF-8
// sequence is replaced later by SafeValue or the JSON writer).
void AppendString(std::string& out, std::string_view s) {
  if (s.size() > kMaxFieldErrorBytes) s = s.substr(0, kMaxFieldErrorBytes);
  const uint32_t n = static_cast<uint32_t>(s.size());
  for (int shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out.append(s.data(), s.size());
}

// Reads one length-prefixed string from `in` at `*pos`; false if truncated.
bool ReadString(std::string_view in, size_t* pos, std::string* out) {
  if (in.size() - *pos < 4) return false;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<uint32_t>(static_cast<unsigned char>(in[*pos + i]))
         << (8 * i);
  }
  *pos += 4;
  if (in.size() - *pos < n) return false;
  out->assign(in.data() + *pos, n);
  *pos += n;
  return true;
}

absl::Cord EncodeFieldErrors(const std::vector<FieldError>& errors) {
  std::string out;
  out.push_back(kFieldErrorsVersion);
  for (size_t i = 0; i < errors.size() && i < kMaxFieldErrors; ++i) {
    const FieldError& e = errors[i];
    AppendString(out, e.field);
    AppendString(out, e.message);
    AppendString(out, e.value);
  }
  return absl::Cord(std::move(out));
}

std::vector<FieldError> DecodeFieldErrors(std::string_view in) {
  std::vector<FieldError> errors;
  if (in.empty() || in.size() > kMaxFieldErrorsPayload ||
      in[0] != kFieldErrorsVersion) {
    return {};
  }
  size_t pos = 1;
  while (pos < in.size()) {
    if (errors.size() == kMaxFieldErrors) return {};
    FieldError e;
    if (!ReadString(in, &pos, &e.field) || !ReadString(in, &pos, &e.message) ||
        !ReadString(in, &pos, &e.value) ||
        e.field.size() > kMaxFieldErrorBytes ||
        e.message.size() > kMaxFieldErrorBytes ||
        e.value.size() > kMaxFieldErrorBytes) {
      return {};  // corrupt: all or nothing
    }
    errors.push_back(std::move(e));
  }
  return errors;
}

void AppendFieldSummary(std::string& out, const FieldError& e) {
  // The status message is for logs: field names and messages only, never the
  // offending value (which may be long or sensitive).
  absl::StrAppend(&out, SafeValue(e.field), ": ",
                  e.message.substr(0, std::min<size_t>(e.message.size(), 256)));
}

}  // namespace

namespace internal {

std::optional<std::string> RequiredScopeOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kPermissionDenied) {
    return std::nullopt;
  }
  absl::optional<absl::Cord> payload =
      status.GetPayload(kRequiredScopeTypeUrl);
  if (!payload.has_value() || payload->size() > 256) return std::nullopt;
  return std::string(*payload);
}

absl::Status VerifyError(VerifyFailure failure,
                         std::string_view required_scope) {
  const auto code = static_cast<unsigned char>(failure);
  switch (failure) {
    case VerifyFailure::kMalformed:
    case VerifyFailure::kUnknown:
    case VerifyFailure::kRevoked:
    case VerifyFailure::kExpired:
    case VerifyFailure::kAccountDisabled:
    case VerifyFailure::kFleetLeaseLapsed: {
      // Prebuilt once per reason: a failed verify builds no string and
      // allocates nothing (a copy shares the status).
      static const absl::Status* const prebuilt = [] {
        auto* statuses = new absl::Status[256];
        for (VerifyFailure f :
             {VerifyFailure::kMalformed, VerifyFailure::kUnknown,
              VerifyFailure::kRevoked, VerifyFailure::kExpired,
              VerifyFailure::kAccountDisabled,
              VerifyFailure::kFleetLeaseLapsed}) {
          const auto c = static_cast<unsigned char>(f);
          statuses[c] = absl::UnauthenticatedError("invalid token");
          statuses[c].SetPayload(
              kVerifyFailureTypeUrl,
              absl::Cord(std::string(1, static_cast<char>(c))));
        }
        return statuses;
      }();
      return prebuilt[code];
    }
    case VerifyFailure::kInsufficientScope: {
      absl::Status status = absl::PermissionDeniedError(
          required_scope.empty()
              ? std::string("insufficient scope")
              : absl::StrCat("insufficient scope: requires ",
                             SafeValue(required_scope)));
      status.SetPayload(kVerifyFailureTypeUrl,
                        absl::Cord(std::string(1, static_cast<char>(code))));
      if (!required_scope.empty()) {
        status.SetPayload(kRequiredScopeTypeUrl,
                          absl::Cord(AbslView(required_scope)));
      }
      return status;
    }
    case VerifyFailure::kNone:
      break;
  }
  // kNone or an out-of-range value is a caller bug: fail closed with the
  // generic answer and no reason.
  return absl::UnauthenticatedError("invalid token");
}

absl::Status StoreInUseError(std::string_view message) {
  absl::Status status = absl::FailedPreconditionError(AbslView(message));
  status.SetPayload(kStoreInUseTypeUrl, absl::Cord());
  return status;
}

}  // namespace internal

bool IsStoreInUse(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition &&
         status.GetPayload(internal::kStoreInUseTypeUrl).has_value();
}

absl::Status ValidationError(std::vector<FieldError> errors) {
  std::string message = "validation failed";
  for (size_t i = 0; i < errors.size() && i < 10; ++i) {
    message.append(i == 0 ? ": " : "; ");
    AppendFieldSummary(message, errors[i]);
  }
  if (errors.size() > 10) message.append("; ...");
  absl::Status status = absl::InvalidArgumentError(message);
  if (!errors.empty()) {
    status.SetPayload(internal::kFieldErrorsTypeUrl,
                      EncodeFieldErrors(errors));
  }
  return status;
}

absl::Status ConflictError(FieldError error) {
  absl::Status status = absl::AlreadyExistsError(
      absl::StrCat("conflict: ", SafeValue(error.field), " already in use"));
  status.SetPayload(internal::kFieldErrorsTypeUrl, EncodeFieldErrors({error}));
  return status;
}

std::vector<FieldError> FieldErrorsOf(const absl::Status& status) {
  if (status.ok()) return {};
  absl::optional<absl::Cord> payload =
      status.GetPayload(internal::kFieldErrorsTypeUrl);
  if (!payload.has_value()) return {};
  if (payload->size() > kMaxFieldErrorsPayload) return {};
  const std::string flat(*payload);
  return DecodeFieldErrors(flat);
}

VerifyFailure VerifyFailureOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload =
      status.GetPayload(internal::kVerifyFailureTypeUrl);
  if (!payload.has_value() || payload->size() != 1) return VerifyFailure::kNone;
  const auto value =
      static_cast<unsigned char>(std::string(*payload).front());
  // The code must agree with the reason, so a stray payload cannot turn an
  // unrelated status into a verify failure.
  if ((value >= static_cast<unsigned char>(VerifyFailure::kMalformed) &&
       value <= static_cast<unsigned char>(VerifyFailure::kAccountDisabled)) ||
      value == static_cast<unsigned char>(VerifyFailure::kFleetLeaseLapsed)) {
    return status.code() == absl::StatusCode::kUnauthenticated
               ? static_cast<VerifyFailure>(value)
               : VerifyFailure::kNone;
  }
  if (value == static_cast<unsigned char>(VerifyFailure::kInsufficientScope) &&
      status.code() == absl::StatusCode::kPermissionDenied) {
    return VerifyFailure::kInsufficientScope;
  }
  return VerifyFailure::kNone;
}

std::string_view VerifyFailureName(VerifyFailure failure) {
  switch (failure) {
    case VerifyFailure::kNone:
      return "none";
    case VerifyFailure::kMalformed:
      return "malformed";
    case VerifyFailure::kUnknown:
      return "unknown";
    case VerifyFailure::kRevoked:
      return "revoked";
    case VerifyFailure::kExpired:
      return "expired";
    case VerifyFailure::kAccountDisabled:
      return "account_disabled";
    case VerifyFailure::kInsufficientScope:
      return "insufficient_scope";
    case VerifyFailure::kFleetLeaseLapsed:
      return "fleet_lease_lapsed";
  }
  return "none";
}

std::string SafeValue(std::string_view input) {
  constexpr size_t kMaxBytes = 64;
  std::string out;
  out.reserve(input.size() < kMaxBytes ? input.size() : kMaxBytes);
  size_t i = 0;
  while (i < input.size()) {
    uint32_t cp = 0;
    const size_t len = utf8::Decode(input, i, &cp);
    if (len == 0 || utf8::IsUnsafeCodePoint(cp)) {
      if (out.size() + 1 > kMaxBytes) break;
      out.push_back('?');
      i += len == 0 ? 1 : len;  // an invalid byte is replaced on its own
      continue;
    }
    if (out.size() + len > kMaxBytes) break;  // never split a sequence
    out.append(input.data() + i, len);
    i += len;
  }
  return out;
}

}  // namespace keygate
