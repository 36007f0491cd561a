// lib/http/json_codec.cc: the JSON wire format of `keygate serve`.
#include "lib/http/json_codec.h"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "keygate/errors.h"
#include "keygate/store.h"

namespace keygate::http {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr char kMustBeString[] = "must be a string";

// ValueOf renders a JSON value for FieldError::value (truncated, escaped).
// Only scalars are echoed: an array or object is never serialized into an
// error (its size and depth are the client's, and dump() recurses).
std::string ValueOf(const json& value) {
  try {
    if (value.is_string()) {
      return SafeValue(value.get_ref<const std::string&>());
    }
    if (value.is_structured()) return {};
    return SafeValue(value.dump());
  } catch (const std::exception&) {
    return {};
  }
}

ordered_json OptionalTime(const std::optional<absl::Time>& t) {
  if (!t.has_value()) return nullptr;
  return FormatRfc3339(*t);
}

void UnknownMember(const std::string& key, std::vector<FieldError>& errors) {
  errors.push_back({SafeValue(key), "unknown member", ""});
}

// ReadString reads an optional-or-required string member.
void ReadString(const std::string& key, const json& value, bool nullable,
                std::optional<std::string>& out,
                std::vector<FieldError>& errors) {
  if (nullable && value.is_null()) return;
  if (!value.is_string()) {
    errors.push_back({key, kMustBeString, ValueOf(value)});
    return;
  }
  out = value.get<std::string>();
}

// ReadEventNames reads an array of strings into `out`; each non-string is a
// FieldError at "eventNames[i]". The names themselves are the store's to
// check.
void ReadEventNames(const std::string& key, const json& value,
                    std::vector<std::string>& out,
                    std::vector<FieldError>& errors) {
  if (!value.is_array()) {
    errors.push_back({key, "must be an array of strings", ValueOf(value)});
    return;
  }
  if (value.size() > 64) {
    errors.push_back({key, "must name at most 64 events", ""});
    return;
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) {
      errors.push_back({key + "[" + std::to_string(i) + "]", kMustBeString,
                        ValueOf(value[i])});
    } else {
      out.push_back(value[i].get<std::string>());
    }
  }
}

}  // namespace

std::string FormatRfc3339(absl::Time t) {
  // Microseconds: what storage keeps, so a create response and a later read
  // of the same resource print the same instant.
  t = absl::UnixEpoch() +
      absl::Floor(t - absl::UnixEpoch(), absl::Microseconds(1));
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

ordered_json ServiceAccountJson(const ServiceAccount& account) {
  ordered_json out;
  out["slug"] = account.slug;
  out["name"] = account.name;
  out["disabled"] = account.disabled;
  out["createdAt"] = FormatRfc3339(account.created_at);
  out["createdBy"] = account.created_by;
  out["updatedAt"] = FormatRfc3339(account.updated_at);
  out["updatedBy"] = account.updated_by;
  return out;
}

ordered_json TokenMetadataJson(const TokenMetadata& metadata) {
  ordered_json out;
  out["name"] = metadata.name;
  out["slug"] = metadata.slug;
  out["scopes"] = metadata.scopes;
  out["expiresAt"] = OptionalTime(metadata.expires_at);
  out["createdAt"] = FormatRfc3339(metadata.created_at);
  out["createdBy"] = metadata.created_by;
  out["revokedAt"] = OptionalTime(metadata.revoked_at);
  if (metadata.revoked_by.empty()) {
    out["revokedBy"] = nullptr;
  } else {
    out["revokedBy"] = metadata.revoked_by;
  }
  out["lastUsedAt"] = OptionalTime(metadata.last_used_at);
  // Rotation links: null unless rotated.
  auto slug_or_null = [](const std::string& slug) -> ordered_json {
    if (slug.empty()) return nullptr;
    return slug;
  };
  out["rotatedTo"] = slug_or_null(metadata.rotated_to);
  out["rotatedFrom"] = slug_or_null(metadata.rotated_from);
  out["graceEndsAt"] = OptionalTime(metadata.grace_ends_at);
  return out;
}

std::string CreatedTokenBody(const CreatedToken& created) {
  std::string body = TokenMetadataJson(created.metadata).dump();
  // body ends with '}'; append the token member. A token is the store's
  // prefix plus base64url text, which needs no JSON escaping; anything else
  // would be a store bug, so refuse to emit it rather than emit bad JSON.
  std::string_view value = created.value.view();
  for (char c : value) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!plain) return {};
  }
  body.pop_back();
  body.reserve(body.size() + value.size() + 12);
  body.append(",\"token\":\"");
  body.append(value.data(), value.size());
  body.append("\"}");
  return body;
}

ordered_json WebhookEndpointJson(const WebhookEndpoint& endpoint) {
  ordered_json out;
  out["id"] = endpoint.id;
  out["url"] = endpoint.url;
  out["eventNames"] = endpoint.event_names;
  out["description"] = endpoint.description;
  out["disabled"] = endpoint.disabled;
  out["createdAt"] = FormatRfc3339(endpoint.created_at);
  out["createdBy"] = endpoint.created_by;
  out["updatedAt"] = FormatRfc3339(endpoint.updated_at);
  out["updatedBy"] = endpoint.updated_by;
  out["secretCreatedAt"] = FormatRfc3339(endpoint.secret_created_at);
  return out;
}

ordered_json WebhookDeliveriesJson(const WebhookDeliveryState& state) {
  ordered_json out;
  out["cursor"] = state.cursor;
  out["failureStreak"] = state.failure_streak;
  out["items"] = ordered_json::array();
  for (const WebhookDeliveryAttempt& a : state.recent_attempts) {
    ordered_json item;
    item["eventId"] = a.event_id;
    item["eventType"] = std::string(EventTypeName(a.event_type));
    item["eventPosition"] = a.event_position;
    item["attempt"] = a.attempt;
    item["attemptedAt"] = FormatRfc3339(a.time);
    if (a.http_status == 0) {
      item["httpStatus"] = nullptr;
    } else {
      item["httpStatus"] = a.http_status;
    }
    if (a.error == WebhookDeliveryError::kNone) {
      item["error"] = nullptr;
    } else {
      item["error"] = std::string(WebhookDeliveryErrorName(a.error));
    }
    item["latencyMs"] = absl::ToDoubleMilliseconds(a.latency);
    item["succeeded"] = a.succeeded();
    out["items"].push_back(std::move(item));
  }
  return out;
}

std::string EndpointWithSecretBody(const EndpointWithSecret& created) {
  std::string body = WebhookEndpointJson(created.endpoint)
                         .dump(-1, ' ', false, json::error_handler_t::replace);
  std::string_view secret = created.signing_secret.view();
  for (char c : secret) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '/' ||
                 c == '=';
    if (!plain) return {};
  }
  body.pop_back();
  body.reserve(body.size() + secret.size() + 13);
  body.append(",\"secret\":\"");
  body.append(secret.data(), secret.size());
  body.append("\"}");
  return body;
}

absl::StatusOr<WebhookEndpointSpec> DecodeWebhookEndpointSpec(
    const json& body) {
  std::vector<FieldError> errors;
  WebhookEndpointSpec spec;
  std::optional<std::string> url;
  std::optional<std::string> description;
  for (const auto& [key, value] : body.items()) {
    if (key == "url") {
      ReadString(key, value, /*nullable=*/false, url, errors);
    } else if (key == "eventNames") {
      ReadEventNames(key, value, spec.event_names, errors);
    } else if (key == "description") {
      ReadString(key, value, /*nullable=*/true, description, errors);
    } else {
      UnknownMember(key, errors);
    }
  }
  if (!body.contains("url")) errors.push_back({"url", "is required", ""});
  if (!body.contains("eventNames")) {
    errors.push_back({"eventNames", "is required", ""});
  }
  if (!errors.empty()) return ValidationError(std::move(errors));
  spec.url = std::move(*url);
  if (description) spec.description = std::move(*description);
  return spec;
}

absl::StatusOr<WebhookEndpointPatch> DecodeWebhookEndpointPatch(
    const json& body) {
  std::vector<FieldError> errors;
  WebhookEndpointPatch patch;
  for (const auto& [key, value] : body.items()) {
    if (key == "url") {
      ReadString(key, value, /*nullable=*/true, patch.url, errors);
    } else if (key == "eventNames") {
      if (value.is_null()) continue;
      std::vector<std::string> names;
      ReadEventNames(key, value, names, errors);
      patch.event_names = std::move(names);
    } else if (key == "description") {
      ReadString(key, value, /*nullable=*/true, patch.description, errors);
    } else if (key == "disabled") {
      if (value.is_null()) continue;
      if (!value.is_boolean()) {
        errors.push_back({key, "must be a boolean", ValueOf(value)});
      } else {
        patch.disabled = value.get<bool>();
      }
    } else {
      UnknownMember(key, errors);
    }
  }
  if (!errors.empty()) return ValidationError(std::move(errors));
  return patch;
}

ordered_json WhoamiJson(const Principal& principal) {
  ordered_json out;
  out["organization"] = std::string(principal.organization());
  out["serviceAccount"] = std::string(principal.service_account());
  out["token"] = std::string(principal.token_slug());
  out["scopes"] = principal.scopes();
  out["expiresAt"] = OptionalTime(principal.expires_at());
  return out;
}

StrictJson ParseStrictJson(std::string_view body, json& out) {
  std::vector<std::set<std::string>> keys;
  bool repeated = false;
  bool too_deep = false;
  json::parser_callback_t track = [&](int depth, json::parse_event_t event,
                                      json& parsed) {
    if (depth >= kMaxJsonDepth || too_deep) {
      too_deep = true;
      return false;
    }
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() &&
            !keys.back().insert(parsed.get<std::string>()).second) {
          repeated = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  out = json::parse(body.begin(), body.end(), track,
                    /*allow_exceptions=*/false);
  if (too_deep) return StrictJson::kTooDeep;
  if (out.is_discarded()) return StrictJson::kNotJson;
  if (repeated) return StrictJson::kRepeatedMember;
  return StrictJson::kOk;
}

std::optional<json> ParseJsonObject(std::string_view body, std::string& why) {
  // Strict like Huma: a repeated member name is refused rather than letting
  // the last one silently win.
  json parsed;
  switch (ParseStrictJson(body, parsed)) {
    case StrictJson::kTooDeep:
      why = "The request body nests deeper than " +
            std::to_string(kMaxJsonDepth) + " levels.";
      return std::nullopt;
    case StrictJson::kNotJson:
      why = "The request body is not valid JSON.";
      return std::nullopt;
    case StrictJson::kRepeatedMember:
      why = "The request body repeats a member name.";
      return std::nullopt;
    case StrictJson::kOk:
      break;
  }
  if (!parsed.is_object()) {
    why = "The request body must be a JSON object.";
    return std::nullopt;
  }
  return parsed;
}

absl::StatusOr<ServiceAccountSpec> DecodeServiceAccountSpec(const json& body) {
  std::vector<FieldError> errors;
  ServiceAccountSpec spec;
  std::optional<std::string> name;
  for (const auto& [key, value] : body.items()) {
    if (key == "name") {
      ReadString(key, value, /*nullable=*/false, name, errors);
    } else if (key == "slug") {
      ReadString(key, value, /*nullable=*/true, spec.slug, errors);
    } else {
      UnknownMember(key, errors);
    }
  }
  if (!body.contains("name")) errors.push_back({"name", "is required", ""});
  if (!errors.empty()) return ValidationError(std::move(errors));
  spec.name = std::move(*name);
  return spec;
}

absl::StatusOr<ServiceAccountPatch> DecodeServiceAccountPatch(
    const json& body) {
  std::vector<FieldError> errors;
  ServiceAccountPatch patch;
  for (const auto& [key, value] : body.items()) {
    if (key == "name") {
      ReadString(key, value, /*nullable=*/true, patch.name, errors);
    } else if (key == "disabled") {
      if (value.is_null()) continue;
      if (!value.is_boolean()) {
        errors.push_back({key, "must be a boolean", ValueOf(value)});
      } else {
        patch.disabled = value.get<bool>();
      }
    } else {
      UnknownMember(key, errors);
    }
  }
  if (!errors.empty()) return ValidationError(std::move(errors));
  return patch;
}

absl::StatusOr<TokenSpec> DecodeTokenSpec(const json& body) {
  std::vector<FieldError> errors;
  TokenSpec spec;
  std::optional<std::string> name;
  bool have_scopes = false;
  for (const auto& [key, value] : body.items()) {
    if (key == "name") {
      ReadString(key, value, /*nullable=*/false, name, errors);
    } else if (key == "slug") {
      ReadString(key, value, /*nullable=*/true, spec.slug, errors);
    } else if (key == "scopes") {
      have_scopes = true;
      if (!value.is_array()) {
        errors.push_back({key, "must be an array of strings", ValueOf(value)});
        continue;
      }
      for (size_t i = 0; i < value.size(); ++i) {
        const json& scope = value[i];
        if (!scope.is_string()) {
          errors.push_back({"scopes[" + std::to_string(i) + "]", kMustBeString,
                            ValueOf(scope)});
        } else {
          spec.scopes.push_back(scope.get<std::string>());
        }
      }
    } else if (key == "expiresAt") {
      if (value.is_null()) continue;
      if (!value.is_string()) {
        errors.push_back(
            {key, "must be an RFC 3339 date-time string", ValueOf(value)});
        continue;
      }
      const std::string& text = value.get_ref<const std::string&>();
      absl::Time t;
      std::string err;
      if (text.find('\0') != std::string::npos ||
          !absl::ParseTime(absl::RFC3339_full, absl::string_view(text), &t,
                           &err)) {
        errors.push_back(
            {key, "must be an RFC 3339 date-time", SafeValue(text)});
        continue;
      }
      spec.expires_at = t;
    } else {
      UnknownMember(key, errors);
    }
  }
  if (!body.contains("name")) errors.push_back({"name", "is required", ""});
  if (!have_scopes) errors.push_back({"scopes", "is required", ""});
  if (!errors.empty()) return ValidationError(std::move(errors));
  spec.name = std::move(*name);
  return spec;
}

absl::StatusOr<absl::Duration> DecodeRotateRequest(const json& body) {
  constexpr size_t kMaxGraceText = 32;
  constexpr char kGraceRule[] =
      "must be a duration from 0s to 30d, e.g. \"0s\", \"90m\", \"24h\" or "
      "\"7d\"";
  std::vector<FieldError> errors;
  std::optional<absl::Duration> grace;
  for (const auto& [key, value] : body.items()) {
    if (key != "gracePeriod") {
      UnknownMember(key, errors);
      continue;
    }
    if (!value.is_string()) {
      errors.push_back({key, kGraceRule, ValueOf(value)});
      continue;
    }
    const std::string& text = value.get_ref<const std::string&>();
    const absl::string_view view(text.data(), text.size());
    absl::Duration parsed;
    int64_t days = 0;
    bool ok = false;
    if (!text.empty() && text.size() <= kMaxGraceText &&
        text.find('\0') == std::string::npos) {
      // "<digits>d": ASCII digits only (SimpleAtoi alone would also take
      // "1 d", stripping whitespace).
      const bool digits_then_d =
          text.size() > 1 && text.back() == 'd' &&
          std::all_of(text.begin(), text.end() - 1, [](char c) {
            return absl::ascii_isdigit(static_cast<unsigned char>(c));
          });
      if (digits_then_d &&
          absl::SimpleAtoi(view.substr(0, view.size() - 1), &days) &&
          days <= 30) {
        parsed = absl::Hours(24) * days;
        ok = true;
      } else if (absl::ParseDuration(view, &parsed)) {
        ok = parsed >= absl::ZeroDuration() && parsed <= kMaxRotationGrace;
      }
    }
    if (!ok) {
      errors.push_back({key, kGraceRule, SafeValue(text)});
      continue;
    }
    grace = parsed;
  }
  if (!body.contains("gracePeriod")) {
    errors.push_back({"gracePeriod", "is required", ""});
  }
  if (!errors.empty()) return ValidationError(std::move(errors));
  return *grace;
}

absl::StatusOr<PageRequest> DecodePageRequest(
    const std::optional<std::string>& limit,
    const std::optional<std::string>& cursor) {
  PageRequest page;
  if (limit.has_value()) {
    uint64_t n = 0;
    bool digits = !limit->empty() && limit->size() <= 9;
    for (char c : *limit) digits = digits && c >= '0' && c <= '9';
    if (!digits || !absl::SimpleAtoi(absl::string_view(*limit), &n) || n < 1 ||
        n > PageRequest::kMaxLimit) {
      return ValidationError({{"limit",
                               "must be an integer from 1 to " +
                                   std::to_string(PageRequest::kMaxLimit),
                               SafeValue(*limit)}});
    }
    page.limit = static_cast<size_t>(n);
  }
  if (cursor.has_value()) page.cursor = *cursor;
  return page;
}

}  // namespace keygate::http
