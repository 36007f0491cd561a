// lib/http/routes.cc: the management API's routes, matched on the raw path.
#include "lib/http/routes.h"

#include "absl/strings/str_join.h"

namespace keygate::http::internal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::vector<Route>& Routes() {
  static const auto* routes = new std::vector<Route>{
      {"/service-accounts",
       {"service-accounts"},
       {{"GET", Operation::kListServiceAccounts, "read:service_accounts"},
        {"POST", Operation::kCreateServiceAccount, "write:service_accounts"}}},
      {"/service-accounts/{serviceAccountSlug}",
       {"service-accounts", "{serviceAccountSlug}"},
       {{"GET", Operation::kGetServiceAccount, "read:service_accounts"},
        {"PATCH", Operation::kPatchServiceAccount, "write:service_accounts"},
        {"DELETE", Operation::kDeleteServiceAccount,
         "delete:service_accounts"}}},
      {"/service-accounts/{serviceAccountSlug}/tokens",
       {"service-accounts", "{serviceAccountSlug}", "tokens"},
       {{"GET", Operation::kListTokens, "read:tokens"},
        {"POST", Operation::kCreateToken, "write:tokens"}}},
      {"/service-accounts/{serviceAccountSlug}/tokens/{tokenSlug}",
       {"service-accounts", "{serviceAccountSlug}", "tokens", "{tokenSlug}"},
       {{"DELETE", Operation::kRevokeToken, "write:tokens"}}},
      {"/service-accounts/{serviceAccountSlug}/tokens/{tokenSlug}/rotate",
       {"service-accounts", "{serviceAccountSlug}", "tokens", "{tokenSlug}",
        "rotate"},
       {{"POST", Operation::kRotateToken, "write:tokens"}}},
      {"/webhooks",
       {"webhooks"},
       {{"GET", Operation::kListWebhooks, "read:webhooks"},
        {"POST", Operation::kCreateWebhook, "write:webhooks"}}},
      {"/webhooks/{webhookId}",
       {"webhooks", "{webhookId}"},
       {{"GET", Operation::kGetWebhook, "read:webhooks"},
        {"PATCH", Operation::kPatchWebhook, "write:webhooks"},
        {"DELETE", Operation::kDeleteWebhook, "delete:webhooks"}}},
      {"/webhooks/{webhookId}/rotate-secret",
       {"webhooks", "{webhookId}", "rotate-secret"},
       {{"POST", Operation::kRotateWebhookSecret, "write:webhooks"}}},
      {"/webhooks/{webhookId}/deliveries",
       {"webhooks", "{webhookId}", "deliveries"},
       {{"GET", Operation::kListWebhookDeliveries, "read:webhooks"}}},
      {"/whoami", {"whoami"}, {{"GET", Operation::kWhoami, ""}}},
      {"/auth/check", {"auth", "check"}, {{"GET", Operation::kAuthCheck, ""}}},
      {"/openapi.json", {"openapi.json"}, {{"GET", Operation::kOpenApi, ""}}},
      {"/healthz", {"healthz"}, {{"GET", Operation::kHealthz, ""}}},
      // Signed by the scanner, not bearer-authenticated; answers 404 unless
      // the host enabled it (ManagementApiOptions::secret_scanning).
      {"/secret-scanning/report",
       {"secret-scanning", "report"},
       {{"POST", Operation::kSecretScanningReport, ""}}},
  };
  return *routes;
}

std::pair<std::string_view, std::string_view> SplitTarget(
    std::string_view target) {
  size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

const Route* MatchRoute(std::string_view path,
                        std::vector<std::string>& params) {
  params.clear();
  if (path.empty() || path.front() != '/') return nullptr;
  std::vector<std::string_view> segments;
  std::string_view rest = path.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    segments.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  for (const Route& route : Routes()) {
    if (route.segments.size() != segments.size()) continue;
    params.clear();
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      std::string_view want = route.segments[i];
      if (!want.empty() && want.front() == '{') {
        // Parameters are taken as sent: a slug never needs an escape, so
        // "%62ot" is not "bot" (the handler refuses it as no slug) and a
        // proxy rule written for raw paths cannot be bypassed.
        // An encoded "/" makes the path no route at all (404), as it would be
        // if the client had meant a separator.
        std::string_view segment = segments[i];
        match = !segment.empty() &&
                segment.find("%2f") == std::string_view::npos &&
                segment.find("%2F") == std::string_view::npos;
        if (match) params.emplace_back(segment);
      } else {
        match = want == segments[i];
      }
    }
    if (match) return &route;
  }
  params.clear();
  return nullptr;
}

std::string AllowHeader(const Route& route) {
  std::vector<std::string> methods;
  for (const MethodOperation& m : route.methods) {
    methods.emplace_back(m.method);
    if (m.method == "GET") methods.push_back("HEAD");
  }
  return absl::StrJoin(methods, ", ");
}

std::optional<QueryParameters> ParseQuery(std::string_view query) {
  QueryParameters out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view()
                                          : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::optional<std::string> name =
        PercentDecode(pair.substr(0, eq), /*plus_is_space=*/true);
    std::optional<std::string> value =
        eq == std::string_view::npos
            ? std::optional<std::string>(std::string())
            : PercentDecode(pair.substr(eq + 1), /*plus_is_space=*/true);
    if (!name || !value) return std::nullopt;
    out.emplace_back(*std::move(name), *std::move(value));
  }
  return out;
}

}  // namespace keygate::http::internal
