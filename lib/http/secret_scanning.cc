// lib/http/secret_scanning.cc: the leaked-token report receiver.
#include "keygate/http/secret_scanning.h"

#include <sodium.h>

#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "keygate/errors.h"
#include "keygate/http/bearer.h"
#include "lib/http/json_codec.h"
#include "lib/token/codec.h"
#include "nlohmann/json.hpp"

namespace keygate::http {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// At most this many errors[] entries in one 422: a report of a thousand
// bad matches must not make a thousand-entry problem.
constexpr size_t kMaxReportedErrors = 20;

constexpr char kTruePositive[] = "true_positive";
constexpr char kFalsePositive[] = "false_positive";

void Note(std::string* why, std::string_view reason) {
  if (why != nullptr) why->assign(reason.data(), reason.size());
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// SignatureProblem is the one 401 every refused signature gets, whatever
// the reason (missing, repeated, unknown key, malformed, wrong).
Problem SignatureProblem() {
  Problem problem =
      HttpProblem(401, "The report must carry a valid scanner signature.");
  for (auto& [name, value] : problem.headers) {
    if (EqualsIgnoreCase(name, "WWW-Authenticate")) {
      // Not a bearer route: name the signature headers' scheme instead.
      value = "Github-Public-Key-Signature realm=\"keygate\"";
    }
  }
  return problem;
}

bool IsJsonMediaType(std::optional<std::string_view> content_type) {
  if (!content_type.has_value()) return false;
  std::string_view type = *content_type;
  type = TrimSpace(type.substr(0, type.find(';')));
  return EqualsIgnoreCase(type, "application/json");
}

// WipeStrings overwrites every string in `value` (the reported tokens and
// anything else) before the parsed document is freed. Depth is bounded by
// the parse (kMaxJsonDepth), so the recursion is too.
void WipeStrings(json& value) {
  if (value.is_string()) {
    std::string& s = value.get_ref<std::string&>();
    sodium_memzero(s.data(), s.size());
  } else if (value.is_array() || value.is_object()) {
    for (json& child : value) WipeStrings(child);
  }
}

// WipeGuard wipes the parsed report however Handle returns.
class WipeGuard {
 public:
  explicit WipeGuard(json& value) : value_(value) {}
  ~WipeGuard() { WipeStrings(value_); }
  WipeGuard(const WipeGuard&) = delete;
  WipeGuard& operator=(const WipeGuard&) = delete;

 private:
  json& value_;
};

// ReportProblem renders a validation failure with locations in the body
// array ("body[3].token", or "body" for the whole report).
Problem ReportProblem(std::vector<FieldError> errors) {
  ProblemContext context;
  context.path_fields.clear();
  context.query_fields.clear();
  Problem problem =
      ProblemFromStatus(ValidationError(std::move(errors)), context);
  for (ProblemError& e : problem.errors) {
    if (e.location.rfind("body.[", 0) == 0) e.location.erase(4, 1);
    e.value.reset();  // never echo a reported value
  }
  return problem;
}

// IsVerdictOnTheToken says whether a failed Verify says something about the
// token itself (malformed, unknown, revoked, expired, its account
// disabled), as opposed to about this process (out of its fleet lease, or
// no reason given).
bool IsVerdictOnTheToken(const absl::Status& status) {
  switch (VerifyFailureOf(status)) {
    case VerifyFailure::kMalformed:
    case VerifyFailure::kUnknown:
    case VerifyFailure::kRevoked:
    case VerifyFailure::kExpired:
    case VerifyFailure::kAccountDisabled:
      return true;
    case VerifyFailure::kNone:
    case VerifyFailure::kInsufficientScope:
    case VerifyFailure::kFleetLeaseLapsed:
      return false;
  }
  return false;
}

std::string HexSha256(std::string_view value) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest,
                     reinterpret_cast<const unsigned char*>(value.data()),
                     value.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

// Match is one validated element of the report; the views point into the
// parsed document.
struct Match {
  std::string_view token;
  std::string_view type;
};

}  // namespace

SecretScanningReceiver::SecretScanningReceiver(
    Store* store, ScannerSignatureVerifier verifier,
    SecretScanningOptions options)
    : store_(store), verifier_(std::move(verifier)), options_(options) {}

Response SecretScanningReceiver::Handle(const Request& request,
                                        std::string_view problem_type_base,
                                        std::string* auth_failure,
                                        std::string* log_fields) const {
  auto render = [&](const Problem& problem) {
    return ProblemResponse(problem, problem_type_base);
  };

  // The signature first: an unsigned client learns nothing about bodies.
  if (request.HeaderCount(kScannerKeyIdentifierHeader) != 1 ||
      request.HeaderCount(kScannerSignatureHeader) != 1) {
    Note(auth_failure, "scanner signature: missing or repeated headers");
    return render(SignatureProblem());
  }
  absl::Status signed_ok = verifier_.Verify(
      TrimSpace(*request.FindHeader(kScannerKeyIdentifierHeader)),
      TrimSpace(*request.FindHeader(kScannerSignatureHeader)), request.body);
  if (!signed_ok.ok()) {
    // Fixed reasons from the verifier, never the header values.
    Note(auth_failure, std::string_view(signed_ok.message().data(),
                                        signed_ok.message().size()));
    return render(SignatureProblem());
  }

  if (request.HeaderCount("Content-Type") != 1 ||
      !IsJsonMediaType(request.FindHeader("Content-Type"))) {
    return render(HttpProblem(415, "The report must be application/json."));
  }
  json report;
  WipeGuard wipe(report);
  switch (ParseStrictJson(request.body, report)) {
    case StrictJson::kNotJson:
      return render(MalformedBodyProblem("The report is not valid JSON."));
    case StrictJson::kRepeatedMember:
      return render(MalformedBodyProblem("The report repeats a member name."));
    case StrictJson::kTooDeep:
      return render(ReportProblem(
          {{"", absl::StrCat("nests deeper than ", kMaxJsonDepth, " levels"),
            ""}}));
    case StrictJson::kOk:
      break;
  }
  if (!report.is_array()) {
    return render(ReportProblem({{"", "must be a JSON array of matches", ""}}));
  }
  if (report.size() > options_.max_matches_per_report) {
    return render(ReportProblem(
        {{"",
          absl::StrCat("at most ", options_.max_matches_per_report,
                       " matches per report"),
          ""}}));
  }

  // Validate every element before acting on any.
  std::vector<Match> matches;
  matches.reserve(report.size());
  std::vector<FieldError> errors;
  auto fail = [&](size_t i, std::string_view member, std::string message) {
    if (errors.size() < kMaxReportedErrors) {
      errors.push_back({absl::StrCat("[", i, "]", std::string(member)),
                        std::move(message), ""});
    }
  };
  for (size_t i = 0; i < report.size(); ++i) {
    const json& element = report[i];
    if (!element.is_object()) {
      fail(i, "", "must be an object");
      continue;
    }
    Match match;
    bool ok = true;
    const auto token = element.find("token");
    if (token == element.end() || !token->is_string() ||
        token->get_ref<const std::string&>().empty()) {
      fail(i, ".token", "required: a non-empty string");
      ok = false;
    } else {
      match.token = token->get_ref<const std::string&>();
    }
    const auto type = element.find("type");
    if (type == element.end() || !type->is_string() ||
        type->get_ref<const std::string&>().size() > options_.max_type_bytes) {
      fail(i, ".type",
           absl::StrCat("required: a string of at most ",
                        options_.max_type_bytes, " bytes"));
      ok = false;
    } else {
      match.type = type->get_ref<const std::string&>();
    }
    for (const char* optional : {"url", "source"}) {
      const auto member = element.find(optional);
      if (member != element.end() && !member->is_string() &&
          !member->is_null()) {
        fail(i, absl::StrCat(".", optional), "must be a string");
        ok = false;
      }
    }
    if (ok) matches.push_back(match);
  }
  if (!errors.empty()) return render(ReportProblem(std::move(errors)));

  const token::TokenCodec codec(store_->token_prefix());
  std::unordered_set<std::string> seen;
  ordered_json answer = ordered_json::array();
  size_t revoked = 0;
  for (const Match& match : matches) {
    std::string hash = HexSha256(match.token);
    if (!seen.insert(hash).second) continue;  // reported twice: once
    const char* label = kFalsePositive;
    // Another prefix, length or a bad checksum: not a keygate token, and
    // no store call at all (the checksum is what makes this free).
    if (match.token.size() == codec.token_size() &&
        codec.ParsePepperId(match.token) != 0) {
      absl::StatusOr<Principal> principal = store_->Verify(match.token);
      if (principal.ok()) {
        absl::Status status = store_->RevokeToken(
            principal->organization(), principal->service_account(),
            principal->token_slug(), kRevokedByLeak);
        if (status.ok()) {
          ++revoked;
          label = kTruePositive;
        } else if (absl::IsNotFound(status)) {
          // Revoked (or its account deleted) between Verify and here: it
          // was live when reported.
          label = kTruePositive;
        } else {
          if (log_fields != nullptr) {
            absl::StrAppend(log_fields, " scanner_revoked=", revoked,
                            " error=\"", SafeValue(status.ToString()), "\"");
          }
          return render(ProblemFromStatus(status));
        }
      } else if (!IsVerdictOnTheToken(principal.status())) {
        // Not a verdict on the token (a closed store, a fleet member out of
        // its lease): answer an error so the scanner retries.
        if (log_fields != nullptr) {
          absl::StrAppend(log_fields, " scanner_revoked=", revoked, " error=\"",
                          SafeValue(principal.status().ToString()), "\"");
        }
        return render(ProblemFromStatus(
            absl::IsUnauthenticated(principal.status())
                ? absl::UnavailableError(
                      "this process cannot tell whether the token is live "
                      "(it has not caught up with its fleet); retry")
                : principal.status()));
      }
      // Unknown, revoked, expired, or of a disabled account: nothing live
      // to revoke (docs/secret-scanning.md).
    }
    ordered_json entry;
    entry["token_hash"] = std::move(hash);
    entry["token_type"] = std::string(match.type);
    entry["label"] = label;
    answer.push_back(std::move(entry));
  }
  if (log_fields != nullptr) {
    absl::StrAppend(log_fields, " scanner_matches=", matches.size(),
                    " scanner_revoked=", revoked);
  }
  Response response;
  response.status = 200;
  response.headers.push_back({"Content-Type", "application/json"});
  response.body =
      answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

}  // namespace keygate::http
