// lib/http/json_codec.h: the JSON wire format of `keygate serve`.
//
// Encoders turn keygate value types into the camelCase JSON of the reference
// API; decoders turn request bodies into keygate specs. Decoders are strict
// (like Huma): the body must be a JSON object, members must have the
// documented type, and unknown members are refused. Every decoding failure is
// a keygate::ValidationError whose FieldError::field is the member's name
// ("name", "scopes[1]", ...), so the host maps it through ProblemFromStatus
// like any store error. Nothing here throws.
//
// Optional members are always present in responses and are `null` when
// absent (expiresAt, revokedAt, revokedBy, nextCursor); docs/openapi.json
// documents them as required and nullable.
#ifndef KEYGATE_LIB_HTTP_JSON_CODEC_H_
#define KEYGATE_LIB_HTTP_JSON_CODEC_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/page.h"
#include "keygate/principal.h"
#include "keygate/service_account.h"
#include "keygate/token.h"
#include "keygate/webhook.h"
#include "keygate/webhook_delivery.h"
#include "nlohmann/json.hpp"

namespace keygate::http {

// FormatRfc3339 formats `t`, truncated to microseconds, as RFC 3339 in UTC
// with a `Z` suffix and only as many fractional digits as needed
// ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456Z").
std::string FormatRfc3339(absl::Time t);

// ServiceAccountJson encodes {slug, name, disabled, createdAt, createdBy,
// updatedAt, updatedBy}.
nlohmann::ordered_json ServiceAccountJson(const ServiceAccount& account);

// TokenMetadataJson encodes {name, slug, scopes, expiresAt, createdAt,
// createdBy, revokedAt, revokedBy}; the organization, service account and
// pepper id are not part of the wire format.
nlohmann::ordered_json TokenMetadataJson(const TokenMetadata& metadata);

// CreatedTokenBody returns the 201 body of a token creation: the metadata
// object plus a last member "token" holding the value. The caller owns the
// returned buffer and must wipe it (sodium_memzero) once sent. The value is
// never placed in a JSON library node, so no unwiped copy remains.
std::string CreatedTokenBody(const CreatedToken& created);

// WebhookEndpointJson encodes {id, url, eventNames, description, disabled,
// createdAt, createdBy, updatedAt, updatedBy, secretCreatedAt}: never the
// secret.
nlohmann::ordered_json WebhookEndpointJson(const WebhookEndpoint& endpoint);

// WebhookDeliveriesJson encodes an endpoint's delivery state: {cursor,
// failureStreak, items: [{eventId, eventType, eventPosition, attempt,
// attemptedAt, httpStatus (null if none), error (null, or "timeout",
// "connection", "refused_target", "protocol", "unsupported", "internal",
// "tls", or "unknown" for an error a newer keygate recorded),
// latencyMs, succeeded}]} newest first. No bodies, no secrets.
nlohmann::ordered_json WebhookDeliveriesJson(const WebhookDeliveryState& state);

// EndpointWithSecretBody returns the 201/200 body of an endpoint creation or
// secret rotation: WebhookEndpointJson plus a last member "secret" holding
// the "whsec_" secret, appended as text (like CreatedTokenBody) so no
// unwiped copy remains in a JSON node. The caller wipes the buffer once
// sent. Empty if the secret holds a byte that would need escaping (a store
// bug).
std::string EndpointWithSecretBody(const EndpointWithSecret& created);

// DecodeWebhookEndpointSpec reads {url, eventNames[, description]}; unknown
// members, wrong types and missing required members are FieldErrors.
absl::StatusOr<WebhookEndpointSpec> DecodeWebhookEndpointSpec(
    const nlohmann::json& body);

// DecodeWebhookEndpointPatch reads {url?, eventNames?, description?,
// disabled?}; null means "unchanged".
absl::StatusOr<WebhookEndpointPatch> DecodeWebhookEndpointPatch(
    const nlohmann::json& body);

// WhoamiJson encodes {organization, serviceAccount, token, scopes,
// expiresAt} of a verified principal. REQUIRES: principal.valid().
nlohmann::ordered_json WhoamiJson(const Principal& principal);

// PageJson encodes {items: [...], nextCursor} with nextCursor null on the
// last page.
template <typename T, typename Encoder>
nlohmann::ordered_json PageJson(const Page<T>& page, Encoder encode) {
  nlohmann::ordered_json out;
  out["items"] = nlohmann::ordered_json::array();
  for (const T& item : page.items) out["items"].push_back(encode(item));
  if (page.next_cursor.empty()) {
    out["nextCursor"] = nullptr;
  } else {
    out["nextCursor"] = page.next_cursor;
  }
  return out;
}

// Deepest nesting ParseJsonObject accepts (the object itself is depth 1).
inline constexpr int kMaxJsonDepth = 16;

// StrictJson is ParseStrictJson's verdict on a body.
enum class StrictJson { kOk, kNotJson, kTooDeep, kRepeatedMember };

// ParseStrictJson parses `body` into `out`, discarding anything nested deeper
// than kMaxJsonDepth as it is read (the parser keeps its state on the heap,
// so nothing recurses in proportion to the input) and refusing a repeated
// member name (parsers disagree on which one counts). `out` is meaningful
// only with kOk. Cost linear in the body, stack use constant.
StrictJson ParseStrictJson(std::string_view body, nlohmann::json& out);

// ParseJsonObject parses `body` as a JSON object. Returns std::nullopt (the
// host answers 400 MalformedBodyProblem) if it is not valid JSON, not an
// object, repeats a member name, or nests deeper than kMaxJsonDepth; `why`
// then holds a short client-safe reason. Its cost is linear in the body and
// its stack use constant.
std::optional<nlohmann::json> ParseJsonObject(std::string_view body,
                                              std::string& why);

// DecodeServiceAccountSpec reads {name, slug?}. `name` is required.
absl::StatusOr<ServiceAccountSpec> DecodeServiceAccountSpec(
    const nlohmann::json& body);

// ServiceAccountPatch is the body of PATCH /service-accounts/{slug}: the
// store's own patch (keygate/service_account.h).
using ServiceAccountPatch = ::keygate::ServiceAccountPatch;

// DecodeServiceAccountPatch reads {name?, disabled?}.
absl::StatusOr<ServiceAccountPatch> DecodeServiceAccountPatch(
    const nlohmann::json& body);

// DecodeTokenSpec reads {name, slug?, scopes, expiresAt?}. `name` and
// `scopes` are required; expiresAt is RFC 3339.
absl::StatusOr<TokenSpec> DecodeTokenSpec(const nlohmann::json& body);

// DecodeRotateRequest reads {gracePeriod}: a required duration string,
// "<n>d" (whole days) or absl::ParseDuration syntax ("0s", "90m", "24h",
// "1h30m"), from zero to keygate::kMaxRotationGrace; returns the grace.
// Errors name body fields as DecodeTokenSpec's do.
absl::StatusOr<absl::Duration> DecodeRotateRequest(const nlohmann::json& body);

// DecodePageRequest reads the `limit` and `cursor` query parameters (either
// may be absent). `limit` must be a decimal integer in
// [1, PageRequest::kMaxLimit]; errors name the field "limit".
absl::StatusOr<PageRequest> DecodePageRequest(
    const std::optional<std::string>& limit,
    const std::optional<std::string>& cursor);

}  // namespace keygate::http

#endif  // KEYGATE_LIB_HTTP_JSON_CODEC_H_
