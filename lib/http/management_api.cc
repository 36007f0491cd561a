// lib/http/management_api.cc: the service-account token API as a
// framework-neutral request handler.
#include "keygate/http/management_api.h"

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "keygate/delegation.h"
#include "keygate/errors.h"
#include "keygate/http/bearer.h"
#include "keygate/http/problem.h"
#include "keygate/http/secret_scanning.h"
#include "keygate/validation.h"
#include "lib/http/json_codec.h"
#include "lib/http/openapi_document.h"
#include "lib/http/routes.h"
#include "nlohmann/json.hpp"

namespace keygate::http {
namespace {

using internal::Operation;
using internal::Route;
using nlohmann::json;
using nlohmann::ordered_json;

constexpr char kJsonContentType[] = "application/json";
constexpr char kRequiredScopeHeader[] = "X-Keygate-Required-Scope";
constexpr char kSlugRule[] =
    "must match ^[a-z0-9][a-z0-9-]*[a-z0-9]$ (2-100 characters)";

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// JsonMediaType classifies a Content-Type value: application/json, with no
// parameter other than charset=utf-8 (any case, optionally quoted).
enum class MediaType { kJson, kWrongCharset, kOther };

MediaType ClassifyContentType(std::string_view value) {
  size_t semicolon = value.find(';');
  if (!EqualsIgnoreCase(TrimSpace(value.substr(0, semicolon)),
                        kJsonContentType)) {
    return MediaType::kOther;
  }
  while (semicolon != std::string_view::npos) {
    value = value.substr(semicolon + 1);
    semicolon = value.find(';');
    std::string_view parameter = TrimSpace(value.substr(0, semicolon));
    if (parameter.empty()) continue;
    size_t eq = parameter.find('=');
    if (eq == std::string_view::npos ||
        !EqualsIgnoreCase(TrimSpace(parameter.substr(0, eq)), "charset")) {
      return MediaType::kOther;
    }
    std::string_view charset = TrimSpace(parameter.substr(eq + 1));
    if (charset.size() >= 2 && charset.front() == '"' &&
        charset.back() == '"') {
      charset = charset.substr(1, charset.size() - 2);
    }
    if (!EqualsIgnoreCase(charset, "utf-8")) return MediaType::kWrongCharset;
  }
  return MediaType::kJson;
}

// RenameFields rewrites the field names of a validation status, so a store
// that names a path parameter differently still lands at path.<param>.
absl::Status RenameFields(
    const absl::Status& status,
    const std::vector<std::pair<std::string, std::string>>& renames) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return status;
  std::vector<FieldError> errors = FieldErrorsOf(status);
  if (errors.empty()) return status;
  bool changed = false;
  for (FieldError& e : errors) {
    for (const auto& [from, to] : renames) {
      if (e.field == from) {
        e.field = to;
        changed = true;
      }
    }
  }
  return changed ? ValidationError(std::move(errors)) : status;
}

const std::vector<std::pair<std::string, std::string>>& AccountRenames() {
  static const auto* renames = new std::vector<std::pair<std::string, std::string>>{
      {"slug", "serviceAccountSlug"},
      {"service_account", "serviceAccountSlug"},
      {"serviceAccount", "serviceAccountSlug"}};
  return *renames;
}

// WebhookPathContext places "webhookId" in the path and everything else of
// a webhook call in the body.
ProblemContext WebhookPathContext() {
  ProblemContext context;
  context.path_fields = {"webhookId"};
  context.query_fields.clear();
  return context;
}

ProblemContext BodyContext() {
  ProblemContext context;
  context.path_fields.clear();
  context.query_fields.clear();
  return context;
}

// RedactTokenValues drops every errors[].value that carries a keygate token
// (the store's token prefix), and cuts a location naming one (an unknown
// body member) to its first part: a token pasted into a slug, cursor or body
// is a secret all the same, and problem bodies end up in logs.
Problem RedactTokenValues(Problem problem, std::string_view token_prefix) {
  if (token_prefix.empty()) return problem;
  for (ProblemError& e : problem.errors) {
    if (e.value.has_value() &&
        e.value->find(token_prefix) != std::string::npos) {
      e.value.reset();
    }
    if (e.location.find(token_prefix) != std::string::npos) {
      e.location = e.location.substr(0, e.location.find('.'));
    }
  }
  return problem;
}

Response JsonResponse(int status, const ordered_json& body) {
  Response response;
  response.status = status;
  response.headers.push_back({"Content-Type", kJsonContentType});
  response.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

Response EmptyResponse(int status) {
  Response response;
  response.status = status;
  return response;
}

}  // namespace

// Context is one request in flight through the handlers.
struct ManagementApi::Context {
  Context(const Request& request, std::string* log_fields,
          std::string_view type_base, std::string_view token_prefix)
      : request(request),
        log_fields(log_fields),
        type_base(type_base),
        token_prefix(token_prefix) {}

  // Render renders a problem with this host's problem type base.
  Response Render(const Problem& problem) const {
    return ProblemResponse(problem, type_base);
  }

  const Request& request;
  std::string* log_fields;
  std::string_view type_base;
  std::string_view token_prefix;  // never echoed in a problem's values
  const Route* route = nullptr;
  Operation operation{};
  std::string_view scope;           // the route's management scope
  std::vector<std::string> params;  // decoded path parameters
  internal::QueryParameters query;
  Caller caller;
  std::string auth_failure;

  std::string internal_error;  // the cause of a 5xx, for the log only

  // Refuse renders a store or rule status. A 5xx cause never reaches the
  // client; it is kept for the host's log.
  Response Refuse(const absl::Status& status,
                  const ProblemContext& problem_context = {}) {
    Problem problem = RedactTokenValues(
        ProblemFromStatus(status, problem_context), token_prefix);
    if (problem.status >= 500) internal_error = status.ToString();
    return Render(problem);
  }

  std::optional<std::string> Query(std::string_view name) const {
    for (const auto& [key, value] : query) {
      if (key == name) return value;
    }
    return std::nullopt;
  }
};

namespace {

// SecretResponse renders an endpoint with its signing secret (create,
// rotate): marked sensitive so the host wipes and never logs the body.
// nullopt if the secret cannot be printed (a store bug).
std::optional<Response> SecretResponse(int status,
                                       const EndpointWithSecret& created) {
  Response response;
  response.sensitive = true;
  response.body = EndpointWithSecretBody(created);
  if (response.body.empty()) return std::nullopt;
  response.status = status;
  response.headers.push_back({"Content-Type", kJsonContentType});
  response.headers.push_back({"Cache-Control", "no-store"});
  return response;
}

// CreatedTokenResponse renders a token just created (create, rotate): 201,
// the value shown once, marked sensitive so the host wipes and never logs
// the body, and the new token's Location under `path_prefix`. nullopt if
// the value cannot be printed (a store bug).
std::optional<Response> CreatedTokenResponse(const std::string& path_prefix,
                                             const std::string& account,
                                             const CreatedToken& created) {
  Response response;
  response.sensitive = true;
  response.body = CreatedTokenBody(created);
  if (response.body.empty()) return std::nullopt;
  response.status = 201;
  response.headers.push_back({"Content-Type", kJsonContentType});
  response.headers.push_back(
      {"Location", absl::StrCat(path_prefix, "/service-accounts/", account,
                                "/tokens/", created.metadata.slug)});
  return response;
}

}  // namespace

ManagementApi::ManagementApi(Store* store, const CallerResolver* callers,
                             ManagementApiOptions options)
    : store_(store), callers_(callers), options_(std::move(options)) {
  while (!options_.path_prefix.empty() && options_.path_prefix.back() == '/') {
    options_.path_prefix.pop_back();
  }
}

Response ManagementApi::Handle(const Request& request,
                               std::string* log_fields) const {
  Context context(request, log_fields, options_.problem_type_base,
                  store_->token_prefix());
  Response response = Dispatch(context);
  if (log_fields != nullptr) {
    std::string_view route =
        context.route != nullptr ? context.route->pattern : "-";
    absl::StrAppend(log_fields, " route=", std::string(route));
    if (!context.auth_failure.empty() && response.status >= 400) {
      absl::StrAppend(log_fields, " auth_failure=\"",
                      SafeValue(context.auth_failure), "\"");
    }
    if (!context.internal_error.empty()) {
      // Store errors name keys and files, never a token or a credential.
      absl::StrAppend(log_fields, " error=\"",
                      SafeValue(context.internal_error), "\"");
    }
  }
  return response;
}

namespace {

// The handlers below share one shape: authenticate, check the path, read
// the body, apply the delegation rules for a token caller, call the store,
// render. Each returns the Response; a refusal at any step ends it.
class Handler {
 public:
  Handler(const CallerResolver* callers, const ManagementApiOptions& options)
      : callers_(callers), options_(options) {}

  // Authenticate resolves the caller for the route's scope.
  std::optional<Response> Authenticate(Caller& caller, std::string_view scope,
                                       const Request& request,
                                       std::string* why) const {
    std::variant<Caller, Problem> result =
        callers_->Resolve(request, scope, why);
    if (auto* problem = std::get_if<Problem>(&result)) {
      return Render(*problem);
    }
    caller = std::get<Caller>(std::move(result));
    return std::nullopt;
  }

  // CheckSlugs validates path parameters; a 422 if one is not a slug, or
  // on the webhook routes not an endpoint id (a token pasted as one is not
  // echoed).
  std::optional<Response> CheckSlugs(const Route& route,
                                     const std::vector<std::string>& params,
                                     std::string_view token_prefix) const {
    static constexpr const char* kNames[] = {"serviceAccountSlug",
                                             "tokenSlug"};
    std::vector<FieldError> errors;
    ProblemContext context;
    if (!route.segments.empty() && route.segments[0] == "webhooks") {
      context.path_fields = {"webhookId"};
      if (!params.empty() && !IsValidWebhookId(params[0])) {
        errors.push_back({"webhookId",
                          "must be wh_ followed by 26 characters of a-z and "
                          "2-7",
                          SafeValue(params[0])});
      }
    } else {
      for (size_t i = 0; i < params.size() && i < 2; ++i) {
        if (!IsValidSlug(params[i])) {
          errors.push_back({kNames[i], kSlugRule, SafeValue(params[i])});
        }
      }
    }
    if (errors.empty()) return std::nullopt;
    return Render(RedactTokenValues(
        ProblemFromStatus(ValidationError(std::move(errors)), context),
        token_prefix));
  }

  // ReadBody checks size, media type and encoding, and parses the object.
  std::optional<Response> ReadBody(const Request& request, json& body) const {
    if (request.body.size() > options_.max_body_bytes) {
      return Render(HttpProblem(
          413, absl::StrCat("The request body exceeds the limit of ",
                            options_.max_body_bytes, " bytes.")));
    }
    std::optional<std::string_view> type = request.FindHeader("Content-Type");
    MediaType media =
        type.has_value() && request.HeaderCount("Content-Type") == 1
            ? ClassifyContentType(*type)
            : MediaType::kOther;
    if (media == MediaType::kWrongCharset) {
      return Render(HttpProblem(
          415, "The request body must be application/json in UTF-8."));
    }
    if (media != MediaType::kJson) {
      return Render(
          HttpProblem(415, "The request body must be application/json."));
    }
    if (std::string_view(request.body).substr(0, 3) == "\xEF\xBB\xBF") {
      return Render(MalformedBodyProblem(
          "The request body must not start with a byte order mark."));
    }
    std::string why;
    std::optional<json> parsed = ParseJsonObject(request.body, why);
    if (!parsed.has_value()) return Render(MalformedBodyProblem(why));
    body = *std::move(parsed);
    return std::nullopt;
  }

  Response Render(const Problem& problem) const {
    return ProblemResponse(problem, options_.problem_type_base);
  }


 private:
  const CallerResolver* callers_;
  const ManagementApiOptions& options_;
};

}  // namespace

Response ManagementApi::Dispatch(Context& context) const {
  const Request& request = context.request;
  auto [raw_path, raw_query] = internal::SplitTarget(request.target);
  std::string_view path = raw_path;
  if (!options_.path_prefix.empty()) {
    if (path.substr(0, options_.path_prefix.size()) != options_.path_prefix) {
      return context.Render(
          HttpProblem(404, "No route matches the request path."));
    }
    path.remove_prefix(options_.path_prefix.size());
  }
  context.route = internal::MatchRoute(path, context.params);
  if (context.route != nullptr && options_.secret_scanning == nullptr &&
      context.route->methods.front().operation ==
          Operation::kSecretScanningReport) {
    // Not enabled: no trace of the route (no 405 either).
    context.route = nullptr;
  }
  if (context.route == nullptr) {
    return context.Render(
        HttpProblem(404, "No route matches the request path."));
  }
  std::optional<internal::QueryParameters> query =
      internal::ParseQuery(raw_query);
  if (!query.has_value()) {
    return context.Render(
        HttpProblem(400, "The request query string is malformed."));
  }
  context.query = *std::move(query);

  std::string_view method = request.method;
  if (method == "HEAD") method = "GET";
  const internal::MethodOperation* found = nullptr;
  for (const internal::MethodOperation& m : context.route->methods) {
    if (method == m.method) found = &m;
  }
  if (found == nullptr) {
    std::string allow = internal::AllowHeader(*context.route);
    Problem problem = HttpProblem(
        405, absl::StrCat("The method is not allowed; use ", allow, "."));
    problem.headers.emplace_back("Allow", allow);
    return context.Render(problem);
  }
  context.operation = found->operation;
  context.scope = found->scope;

  Handler h(callers_, options_);
  std::string* why = &context.auth_failure;
  Caller& caller = context.caller;
  const std::vector<std::string>& params = context.params;

  // Routes without a management caller.
  switch (context.operation) {
    case Operation::kOpenApi: {
      Response response;
      response.headers.push_back({"Content-Type", kJsonContentType});
      response.body = std::string(OpenApiDocument());
      return response;
    }
    case Operation::kHealthz:
      return JsonResponse(200, ordered_json{{"status", "ok"}});
    case Operation::kSecretScanningReport: {
      // The host's body bound, before any signature work.
      if (request.body.size() > options_.max_body_bytes) {
        return context.Render(HttpProblem(
            413, absl::StrCat("The request body exceeds the limit of ",
                              options_.max_body_bytes, " bytes.")));
      }
      return options_.secret_scanning->Handle(
          request, options_.problem_type_base, why, context.log_fields);
    }
    case Operation::kWhoami: {
      std::variant<Principal, Problem> result =
          VerifyBearer(*store_, request, {}, why);
      if (auto* problem = std::get_if<Problem>(&result)) {
        return context.Render(*problem);
      }
      return JsonResponse(200, WhoamiJson(std::get<Principal>(result)));
    }
    case Operation::kAuthCheck: {
      // The required scope is the operator's, never the client's.
      if (context.Query("scope").has_value()) {
        return context.Refuse(ValidationError(
            {{"scope",
              "not accepted: the required scope is set by the server "
              "configuration (see docs/serve.md)",
              ""}}),
            ProblemContext{{}, {"scope"}, {}});
      }
      size_t header_count = request.HeaderCount(kRequiredScopeHeader);
      std::string scope;
      const AuthCheckScope& source = options_.auth_check_scope;
      if (source.source == AuthCheckScope::Source::kFixed) {
        scope = source.fixed;
      } else if (source.source == AuthCheckScope::Source::kHeader) {
        std::optional<std::string_view> value =
            request.FindHeader(kRequiredScopeHeader);
        if (header_count != 1 || value->empty()) {
          return context.Render(HttpProblem(
              400, absl::StrCat("Exactly one non-empty ", kRequiredScopeHeader,
                                " header is required.")));
        }
        scope = std::string(*value);
      } else if (header_count != 0) {
        return context.Render(HttpProblem(
            400, absl::StrCat("This server does not read the ",
                              kRequiredScopeHeader,
                              " header; configure its scope source.")));
      }
      ProblemContext scope_context;
      scope_context.path_fields.clear();
      scope_context.query_fields.clear();
      std::variant<Principal, Problem> result =
          VerifyBearer(*store_, request, scope, why);
      if (auto* problem = std::get_if<Problem>(&result)) {
        for (ProblemError& e : problem->errors) {
          if (e.location == "body.scope") {
            e.location = absl::StrCat("header.", kRequiredScopeHeader);
          }
        }
        return context.Render(*problem);
      }
      const Principal& principal = std::get<Principal>(result);
      Response response = JsonResponse(200, WhoamiJson(principal));
      response.headers.push_back(
          {"X-Keygate-Organization", std::string(principal.organization())});
      response.headers.push_back({"X-Keygate-Service-Account",
                                  std::string(principal.service_account())});
      response.headers.push_back(
          {"X-Keygate-Token", std::string(principal.token_slug())});
      response.headers.push_back(
          {"X-Keygate-Scopes", absl::StrJoin(principal.scopes(), " ")});
      return response;
    }
    default:
      break;
  }

  // Management routes: caller first, so an unauthenticated client learns
  // nothing about paths or bodies.
  if (auto refused = h.Authenticate(caller, context.scope, request, why)) {
    return *std::move(refused);
  }
  if (auto refused =
          h.CheckSlugs(*context.route, params, context.token_prefix)) {
    return *std::move(refused);
  }
  const bool token_caller = caller.token.valid();
  const std::string& org = caller.organization;
  const std::string& actor = caller.actor;

  switch (context.operation) {
    case Operation::kCreateServiceAccount: {
      json body;
      if (auto refused = h.ReadBody(request, body)) return *std::move(refused);
      absl::StatusOr<ServiceAccountSpec> spec = DecodeServiceAccountSpec(body);
      if (!spec.ok()) return context.Refuse(spec.status(), BodyContext());
      absl::StatusOr<ServiceAccount> account =
          store_->CreateServiceAccount(org, *spec, actor);
      if (!account.ok()) return context.Refuse(account.status(), BodyContext());
      Response response = JsonResponse(201, ServiceAccountJson(*account));
      response.headers.push_back(
          {"Location", options_.path_prefix + "/service-accounts/" +
                           account->slug});
      return response;
    }
    case Operation::kListServiceAccounts: {
      absl::StatusOr<PageRequest> page =
          DecodePageRequest(context.Query("limit"), context.Query("cursor"));
      if (!page.ok()) return context.Refuse(page.status());
      absl::StatusOr<Page<ServiceAccount>> accounts =
          store_->ListServiceAccounts(org, *page);
      if (!accounts.ok()) return context.Refuse(accounts.status());
      return JsonResponse(200, PageJson(*accounts, ServiceAccountJson));
    }
    case Operation::kGetServiceAccount: {
      absl::StatusOr<ServiceAccount> account =
          store_->GetServiceAccount(org, params[0]);
      if (!account.ok()) {
        return context.Refuse(RenameFields(account.status(), AccountRenames()));
      }
      return JsonResponse(200, ServiceAccountJson(*account));
    }
    case Operation::kPatchServiceAccount: {
      json body;
      if (auto refused = h.ReadBody(request, body)) return *std::move(refused);
      absl::StatusOr<ServiceAccountPatch> patch =
          DecodeServiceAccountPatch(body);
      if (!patch.ok()) return context.Refuse(patch.status(), BodyContext());
      if (token_caller) {
        if (patch->name.has_value()) {
          absl::Status allowed = CheckAccountUpdate(caller.token, params[0],
                                                    AccountUpdate::kRename);
          if (!allowed.ok()) return context.Refuse(allowed);
        }
        if (patch->disabled.has_value()) {
          absl::Status allowed = CheckAccountUpdate(
              caller.token, params[0],
              *patch->disabled ? AccountUpdate::kDisable
                               : AccountUpdate::kEnable);
          if (!allowed.ok()) return context.Refuse(allowed);
        }
      }
      // Rename and disable/enable in one atomic write.
      absl::StatusOr<ServiceAccount> account =
          store_->UpdateServiceAccount(org, params[0], *patch, actor);
      if (!account.ok()) {
        return context.Refuse(RenameFields(account.status(), AccountRenames()));
      }
      return JsonResponse(200, ServiceAccountJson(*account));
    }
    case Operation::kDeleteServiceAccount: {
      if (token_caller) {
        absl::Status allowed = CheckAccountUpdate(caller.token, params[0],
                                                  AccountUpdate::kDelete);
        if (!allowed.ok()) return context.Refuse(allowed);
      }
      absl::Status status = store_->DeleteServiceAccount(org, params[0], actor);
      if (!status.ok()) {
        return context.Refuse(RenameFields(status, AccountRenames()));
      }
      return EmptyResponse(204);
    }
    case Operation::kCreateToken: {
      if (token_caller) {
        absl::Status allowed = CheckServiceAccountReach(
            caller.token, params[0], ScopeAction::kWrite);
        if (!allowed.ok()) return context.Refuse(allowed);
      }
      json body;
      if (auto refused = h.ReadBody(request, body)) return *std::move(refused);
      absl::StatusOr<TokenSpec> spec = DecodeTokenSpec(body);
      if (!spec.ok()) return context.Refuse(spec.status(), BodyContext());
      if (token_caller) {
        absl::Status allowed = CheckTokenDelegation(caller.token, *spec);
        if (!allowed.ok()) return context.Refuse(allowed);
      }
      absl::StatusOr<CreatedToken> created =
          store_->CreateToken(org, params[0], *spec, actor);
      if (!created.ok()) {
        ProblemContext problem_context;
        problem_context.path_fields = {"serviceAccountSlug"};
        problem_context.query_fields.clear();
        return context.Refuse(
            RenameFields(created.status(),
                         {{"service_account", "serviceAccountSlug"},
                          {"serviceAccount", "serviceAccountSlug"}}),
            problem_context);
      }
      if (std::optional<Response> r = CreatedTokenResponse(
              options_.path_prefix, params[0], *created)) {
        return *std::move(r);
      }
      return context.Refuse(absl::InternalError("token value not printable"));
    }
    case Operation::kListTokens: {
      if (token_caller) {
        absl::Status allowed = CheckServiceAccountReach(
            caller.token, params[0], ScopeAction::kRead);
        if (!allowed.ok()) return context.Refuse(allowed);
      }
      absl::StatusOr<PageRequest> page =
          DecodePageRequest(context.Query("limit"), context.Query("cursor"));
      if (!page.ok()) return context.Refuse(page.status());
      absl::StatusOr<Page<TokenMetadata>> tokens =
          store_->ListTokens(org, params[0], *page);
      if (!tokens.ok()) {
        return context.Refuse(RenameFields(tokens.status(), AccountRenames()));
      }
      return JsonResponse(200, PageJson(*tokens, TokenMetadataJson));
    }
    case Operation::kRevokeToken: {
      if (token_caller) {
        absl::Status allowed = CheckServiceAccountReach(
            caller.token, params[0], ScopeAction::kWrite);
        if (!allowed.ok()) return context.Refuse(allowed);
      }
      absl::Status status =
          store_->RevokeToken(org, params[0], params[1], actor);
      if (!status.ok()) {
        return context.Refuse(
            RenameFields(status, {{"service_account", "serviceAccountSlug"},
                                  {"serviceAccount", "serviceAccountSlug"},
                                  {"slug", "tokenSlug"}}));
      }
      return EmptyResponse(204);
    }
    case Operation::kRotateToken: {
      // A rotation revokes one token and creates another: a token caller
      // needs the reach of both (its account, or write:service_accounts)
      // and may only create what it could create directly (the delegation
      // rules on the successor, checked by the store under its writer lock
      // with the successor's actual scopes and expiry).
      if (token_caller) {
        absl::Status allowed = CheckServiceAccountReach(
            caller.token, params[0], ScopeAction::kWrite);
        if (!allowed.ok()) return context.Refuse(allowed);
      }
      json body;
      if (auto refused = h.ReadBody(request, body)) return *std::move(refused);
      absl::StatusOr<absl::Duration> grace = DecodeRotateRequest(body);
      if (!grace.ok()) return context.Refuse(grace.status(), BodyContext());
      absl::StatusOr<CreatedToken> created = store_->RotateToken(
          org, params[0], params[1], *grace, actor,
          [&](const TokenSpec& successor) {
            if (!token_caller) return absl::OkStatus();
            return CheckTokenDelegation(caller.token, successor);
          });
      if (!created.ok()) {
        return context.Refuse(RenameFields(
            created.status(), {{"service_account", "serviceAccountSlug"},
                               {"serviceAccount", "serviceAccountSlug"},
                               {"slug", "tokenSlug"}}));
      }
      if (std::optional<Response> r = CreatedTokenResponse(
              options_.path_prefix, params[0], *created)) {
        return *std::move(r);
      }
      return context.Refuse(absl::InternalError("token value not printable"));
    }
    case Operation::kListWebhooks: {
      absl::StatusOr<std::vector<WebhookEndpoint>> endpoints =
          store_->ListWebhookEndpoints(org);
      if (!endpoints.ok()) return context.Refuse(endpoints.status());
      ordered_json out;
      out["items"] = ordered_json::array();
      for (const WebhookEndpoint& e : *endpoints) {
        out["items"].push_back(WebhookEndpointJson(e));
      }
      return JsonResponse(200, out);
    }
    case Operation::kCreateWebhook: {
      json body;
      if (auto refused = h.ReadBody(request, body)) return *std::move(refused);
      absl::StatusOr<WebhookEndpointSpec> spec =
          DecodeWebhookEndpointSpec(body);
      if (!spec.ok()) return context.Refuse(spec.status(), BodyContext());
      absl::StatusOr<EndpointWithSecret> created =
          store_->CreateWebhookEndpoint(org, *spec, actor);
      if (!created.ok()) {
        if (absl::IsResourceExhausted(created.status())) {
          Problem problem = ProblemFromStatus(created.status());
          problem.detail =
              "webhook endpoint limit reached for this organization";
          return context.Render(problem);
        }
        return context.Refuse(created.status(), BodyContext());
      }
      if (std::optional<Response> r = SecretResponse(201, *created)) {
        r->headers.push_back(
            {"Location", absl::StrCat(options_.path_prefix, "/webhooks/",
                                      created->endpoint.id)});
        return *std::move(r);
      }
      return context.Refuse(absl::InternalError("secret not printable"));
    }
    case Operation::kGetWebhook: {
      absl::StatusOr<WebhookEndpoint> endpoint =
          store_->GetWebhookEndpoint(org, params[0]);
      if (!endpoint.ok()) {
        return context.Refuse(endpoint.status(), WebhookPathContext());
      }
      return JsonResponse(200, WebhookEndpointJson(*endpoint));
    }
    case Operation::kPatchWebhook: {
      json body;
      if (auto refused = h.ReadBody(request, body)) return *std::move(refused);
      absl::StatusOr<WebhookEndpointPatch> patch =
          DecodeWebhookEndpointPatch(body);
      if (!patch.ok()) return context.Refuse(patch.status(), BodyContext());
      absl::StatusOr<WebhookEndpoint> endpoint =
          store_->UpdateWebhookEndpoint(org, params[0], *patch, actor);
      if (!endpoint.ok()) {
        return context.Refuse(endpoint.status(), WebhookPathContext());
      }
      return JsonResponse(200, WebhookEndpointJson(*endpoint));
    }
    case Operation::kDeleteWebhook: {
      absl::Status status =
          store_->DeleteWebhookEndpoint(org, params[0], actor);
      if (!status.ok()) return context.Refuse(status, WebhookPathContext());
      return EmptyResponse(204);
    }
    case Operation::kRotateWebhookSecret: {
      absl::StatusOr<EndpointWithSecret> rotated =
          store_->RotateWebhookSecret(org, params[0], actor);
      if (!rotated.ok()) {
        return context.Refuse(rotated.status(), WebhookPathContext());
      }
      if (std::optional<Response> r = SecretResponse(200, *rotated)) {
        return *std::move(r);
      }
      return context.Refuse(absl::InternalError("secret not printable"));
    }
    case Operation::kListWebhookDeliveries: {
      absl::StatusOr<WebhookDeliveryState> state =
          store_->GetWebhookDeliveryState(org, params[0]);
      if (!state.ok()) {
        return context.Refuse(state.status(), WebhookPathContext());
      }
      return JsonResponse(200, WebhookDeliveriesJson(*state));
    }
    default:
      return context.Refuse(absl::InternalError("unrouted operation"));
  }
}

}  // namespace keygate::http
