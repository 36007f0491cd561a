// tools/keygate/http_server.cc: the HTTP host of `keygate serve`.
#include "tools/keygate/http_server.h"

#include <httplib.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "keygate/errors.h"
#include "keygate/problem.h"
#include "nlohmann/json.hpp"
#include "lib/http/json_codec.h"
#include "lib/http/openapi_document.h"

namespace keygate::tool {
using namespace keygate::http;  // TEMP until the ManagementApi lands
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr char kJsonContentType[] = "application/json";
constexpr char kSlugRule[] =
    "must match ^[a-z0-9][a-z0-9-]*[a-z0-9]$ (2-100 characters)";

// ----- per-request log state ------------------------------------------------
// cpp-httplib handles a request entirely on one worker thread, from the
// pre-routing handler to the logger, so thread-local state is per request.
struct RequestLog {
  std::chrono::steady_clock::time_point start;
  bool started = false;
  const char* route = "-";
  std::string auth_failure;  // a fixed reason, never a credential
};
thread_local RequestLog t_request_log;

// ----- routes ----------------------------------------------------------------
enum class Op {
  kCreateServiceAccount,
  kListServiceAccounts,
  kGetServiceAccount,
  kPatchServiceAccount,
  kDeleteServiceAccount,
  kCreateToken,
  kListTokens,
  kRevokeToken,
  kWhoami,
  kAuthCheck,
  kOpenApi,
  kHealthz,
};

struct MethodOp {
  const char* method;
  Op op;
};

struct Route {
  const char* pattern;  // for logs and Allow; segments "{x}" are parameters
  std::vector<std::string_view> segments;
  std::vector<MethodOp> methods;
};

const std::vector<Route>& Routes() {
  static const auto* routes = new std::vector<Route>{
      {"/service-accounts",
       {"service-accounts"},
       {{"GET", Op::kListServiceAccounts},
        {"POST", Op::kCreateServiceAccount}}},
      {"/service-accounts/{serviceAccountSlug}",
       {"service-accounts", "{serviceAccountSlug}"},
       {{"GET", Op::kGetServiceAccount},
        {"PATCH", Op::kPatchServiceAccount},
        {"DELETE", Op::kDeleteServiceAccount}}},
      {"/service-accounts/{serviceAccountSlug}/tokens",
       {"service-accounts", "{serviceAccountSlug}", "tokens"},
       {{"GET", Op::kListTokens}, {"POST", Op::kCreateToken}}},
      {"/service-accounts/{serviceAccountSlug}/tokens/{tokenSlug}",
       {"service-accounts", "{serviceAccountSlug}", "tokens", "{tokenSlug}"},
       {{"DELETE", Op::kRevokeToken}}},
      {"/whoami", {"whoami"}, {{"GET", Op::kWhoami}}},
      {"/auth/check", {"auth", "check"}, {{"GET", Op::kAuthCheck}}},
      {"/openapi.json", {"openapi.json"}, {{"GET", Op::kOpenApi}}},
      {"/healthz", {"healthz"}, {{"GET", Op::kHealthz}}},
  };
  return *routes;
}

// MatchRoute finds the route whose template matches `path` (already
// percent-decoded by httplib) and collects its parameters in order.
const Route* MatchRoute(std::string_view path,
                        std::vector<std::string>& params) {
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
        if (segments[i].empty()) match = false;
        params.emplace_back(segments[i]);
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
  for (const MethodOp& m : route.methods) {
    methods.emplace_back(m.method);
    if (std::string_view(m.method) == "GET") methods.emplace_back("HEAD");
  }
  return absl::StrJoin(methods, ", ");
}

// IsSlug checks the reference slug pattern ^[a-z0-9][a-z0-9-]*[a-z0-9]$ with
// 2-100 characters.
bool IsSlug(std::string_view s) {
  if (s.size() < 2 || s.size() > 100) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-'; });
}

// IsJsonContentType accepts "application/json" with optional parameters,
// case-insensitively.
bool IsJsonContentType(std::string_view value) {
  std::string_view type = value.substr(0, value.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
    type.remove_suffix(1);
  }
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) {
    type.remove_prefix(1);
  }
  std::string lower(type);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower == kJsonContentType;
}

std::optional<std::string> QueryParam(const httplib::Request& req,
                                      const char* name) {
  if (!req.has_param(name)) return std::nullopt;
  return req.get_param_value(name);
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

ProblemContext BodyContext() {
  ProblemContext context;
  context.path_fields.clear();
  context.query_fields.clear();
  return context;
}

}  // namespace

struct HttpServer::Impl {
  Impl(Store* store, const JwtVerifier* verifier, HttpServerOptions options)
      : store(store),
        options(std::move(options)),
        auth(store, verifier, this->options.token_prefix) {
    if (this->options.clock == nullptr) this->options.clock = SystemClock();
    if (!this->options.log) {
      this->options.log = [](std::string_view line) {
        std::string out(line);
        out.push_back('\n');
        std::fwrite(out.data(), 1, out.size(), stderr);
      };
    }
  }

  void Log(std::string_view line) const { options.log(line); }

  // ----- responses -----------------------------------------------------------
  static void SendProblem(httplib::Response& res, const Problem& problem) {
    res.status = problem.status;
    for (const auto& [name, value] : problem.headers) {
      if (name == "Content-Type" || name == "content-type") continue;
      res.set_header(name.c_str(), value);
    }
    res.set_content(ProblemToJson(problem), std::string(kProblemContentType));
  }

  void SendStatusProblem(httplib::Response& res, const absl::Status& status,
                         const ProblemContext& context) const {
    Problem problem = ProblemFromStatus(status, context);
    if (problem.status >= 500) Log(absl::StrCat("error: ", status.ToString()));
    SendProblem(res, problem);
  }

  static void SendJson(httplib::Response& res, int status,
                       const ordered_json& body) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                    kJsonContentType);
  }

  // ----- request helpers
  // -------------------------------------------------------
  std::optional<Caller> Authenticate(const httplib::Request& req,
                                     httplib::Response& res,
                                     std::string_view scope) const {
    std::variant<Caller, Problem> result =
        auth.Authenticate(req.get_header_value_count("Authorization"),
                          req.get_header_value("Authorization"), scope,
                          options.clock->Now(), &t_request_log.auth_failure);
    if (auto* problem = std::get_if<Problem>(&result)) {
      SendProblem(res, *problem);
      return std::nullopt;
    }
    return std::get<Caller>(std::move(result));
  }

  // CheckSlugs validates path parameters; false after sending a 422.
  static bool CheckSlugs(const std::vector<std::string>& params,
                         httplib::Response& res) {
    static const char* kNames[] = {"serviceAccountSlug", "tokenSlug"};
    std::vector<FieldError> errors;
    for (size_t i = 0; i < params.size() && i < 2; ++i) {
      if (!IsSlug(params[i])) {
        errors.push_back({kNames[i], kSlugRule, SafeValue(params[i])});
      }
    }
    if (errors.empty()) return true;
    SendProblem(res, ProblemFromStatus(ValidationError(std::move(errors))));
    return false;
  }

  // ReadBody checks the content type and parses the JSON object body.
  std::optional<json> ReadBody(const httplib::Request& req,
                               httplib::Response& res) const {
    if (req.body.size() > options.max_body_bytes) {
      SendProblem(res, HttpProblem(413, TooLargeDetail()));
      return std::nullopt;
    }
    if (!req.has_header("Content-Type") ||
        !IsJsonContentType(req.get_header_value("Content-Type"))) {
      SendProblem(
          res, HttpProblem(415, "The request body must be application/json."));
      return std::nullopt;
    }
    std::string why;
    std::optional<json> body = ParseJsonObject(req.body, why);
    if (!body.has_value()) SendProblem(res, MalformedBodyProblem(why));
    return body;
  }

  std::string TooLargeDetail() const {
    return absl::StrCat("The request body exceeds the limit of ",
                        options.max_body_bytes, " bytes.");
  }

  // ----- handlers
  // --------------------------------------------------------------
  void Handle(Op op, const httplib::Request& req, httplib::Response& res,
              const std::vector<std::string>& params) const {
    switch (op) {
      case Op::kCreateServiceAccount:
        return CreateServiceAccount(req, res);
      case Op::kListServiceAccounts:
        return ListServiceAccounts(req, res);
      case Op::kGetServiceAccount:
        return GetServiceAccount(req, res, params);
      case Op::kPatchServiceAccount:
        return PatchServiceAccount(req, res, params);
      case Op::kDeleteServiceAccount:
        return DeleteServiceAccount(req, res, params);
      case Op::kCreateToken:
        return CreateToken(req, res, params);
      case Op::kListTokens:
        return ListTokens(req, res, params);
      case Op::kRevokeToken:
        return RevokeToken(req, res, params);
      case Op::kWhoami:
        return Whoami(req, res);
      case Op::kAuthCheck:
        return AuthCheck(req, res);
      case Op::kOpenApi:
        res.status = 200;
        res.set_content(std::string(OpenApiDocument()), kJsonContentType);
        return;
      case Op::kHealthz:
        SendJson(res, 200, ordered_json{{"status", "ok"}});
        return;
    }
  }

  void CreateServiceAccount(const httplib::Request& req,
                            httplib::Response& res) const {
    std::optional<Caller> caller =
        Authenticate(req, res, "write:service_accounts");
    if (!caller) return;
    std::optional<json> body = ReadBody(req, res);
    if (!body) return;
    absl::StatusOr<ServiceAccountSpec> spec = DecodeServiceAccountSpec(*body);
    if (!spec.ok()) return SendStatusProblem(res, spec.status(), BodyContext());
    absl::StatusOr<ServiceAccount> account =
        store->CreateServiceAccount(caller->organization, *spec, caller->actor);
    if (!account.ok()) {
      return SendStatusProblem(res, account.status(), BodyContext());
    }
    res.set_header("Location", "/service-accounts/" + account->slug);
    SendJson(res, 201, ServiceAccountJson(*account));
  }

  void ListServiceAccounts(const httplib::Request& req,
                           httplib::Response& res) const {
    std::optional<Caller> caller =
        Authenticate(req, res, "read:service_accounts");
    if (!caller) return;
    absl::StatusOr<PageRequest> page =
        DecodePageRequest(QueryParam(req, "limit"), QueryParam(req, "cursor"));
    if (!page.ok()) return SendStatusProblem(res, page.status(), {});
    absl::StatusOr<Page<ServiceAccount>> accounts =
        store->ListServiceAccounts(caller->organization, *page);
    if (!accounts.ok()) return SendStatusProblem(res, accounts.status(), {});
    SendJson(res, 200, PageJson(*accounts, ServiceAccountJson));
  }

  void GetServiceAccount(const httplib::Request& req, httplib::Response& res,
                         const std::vector<std::string>& params) const {
    std::optional<Caller> caller =
        Authenticate(req, res, "read:service_accounts");
    if (!caller || !CheckSlugs(params, res)) return;
    absl::StatusOr<ServiceAccount> account =
        store->GetServiceAccount(caller->organization, params[0]);
    if (!account.ok()) return SendPathStatus(res, account.status());
    SendJson(res, 200, ServiceAccountJson(*account));
  }

  void PatchServiceAccount(const httplib::Request& req, httplib::Response& res,
                           const std::vector<std::string>& params) const {
    std::optional<Caller> caller =
        Authenticate(req, res, "write:service_accounts");
    if (!caller || !CheckSlugs(params, res)) return;
    std::optional<json> body = ReadBody(req, res);
    if (!body) return;
    absl::StatusOr<ServiceAccountPatch> patch =
        DecodeServiceAccountPatch(*body);
    if (!patch.ok()) {
      return SendStatusProblem(res, patch.status(), BodyContext());
    }
    // The rename goes first: it is the only step bad input can fail, so a
    // refused name leaves the account untouched. (Not one atomic write.)
    absl::StatusOr<ServiceAccount> account =
        store->GetServiceAccount(caller->organization, params[0]);
    if (account.ok() && patch->name.has_value()) {
      account = store->RenameServiceAccount(caller->organization, params[0],
                                            *patch->name, caller->actor);
    }
    if (account.ok() && patch->disabled.has_value()) {
      account = store->SetServiceAccountDisabled(
          caller->organization, params[0], *patch->disabled, caller->actor);
    }
    if (!account.ok()) return SendPathStatus(res, account.status());
    SendJson(res, 200, ServiceAccountJson(*account));
  }

  void DeleteServiceAccount(const httplib::Request& req, httplib::Response& res,
                            const std::vector<std::string>& params) const {
    std::optional<Caller> caller =
        Authenticate(req, res, "delete:service_accounts");
    if (!caller || !CheckSlugs(params, res)) return;
    absl::Status status = store->DeleteServiceAccount(caller->organization,
                                                      params[0], caller->actor);
    if (!status.ok()) return SendPathStatus(res, status);
    res.status = 204;
  }

  void CreateToken(const httplib::Request& req, httplib::Response& res,
                   const std::vector<std::string>& params) const {
    std::optional<Caller> caller = Authenticate(req, res, "write:tokens");
    if (!caller || !CheckSlugs(params, res)) return;
    std::optional<json> body = ReadBody(req, res);
    if (!body) return;
    absl::StatusOr<TokenSpec> spec = DecodeTokenSpec(*body);
    if (!spec.ok()) return SendStatusProblem(res, spec.status(), BodyContext());
    absl::StatusOr<CreatedToken> created = store->CreateToken(
        caller->organization, params[0], *spec, caller->actor);
    if (!created.ok()) {
      ProblemContext context;
      context.path_fields = {"serviceAccountSlug"};
      context.query_fields.clear();
      return SendStatusProblem(
          res,
          RenameFields(created.status(),
                       {{"service_account", "serviceAccountSlug"},
                        {"serviceAccount", "serviceAccountSlug"}}),
          context);
    }
    std::string out = CreatedTokenBody(*created);
    if (out.empty()) {
      SendStatusProblem(res, absl::InternalError("token value not printable"),
                        {});
      return;
    }
    res.status = 201;
    res.set_header("Location", "/service-accounts/" + params[0] + "/tokens/" +
                                   created->metadata.slug);
    res.set_content(out, kJsonContentType);
    sodium_memzero(out.data(), out.size());
  }

  void ListTokens(const httplib::Request& req, httplib::Response& res,
                  const std::vector<std::string>& params) const {
    std::optional<Caller> caller = Authenticate(req, res, "read:tokens");
    if (!caller || !CheckSlugs(params, res)) return;
    absl::StatusOr<PageRequest> page =
        DecodePageRequest(QueryParam(req, "limit"), QueryParam(req, "cursor"));
    if (!page.ok()) return SendStatusProblem(res, page.status(), {});
    absl::StatusOr<Page<TokenMetadata>> tokens =
        store->ListTokens(caller->organization, params[0], *page);
    if (!tokens.ok()) return SendPathStatus(res, tokens.status());
    SendJson(res, 200, PageJson(*tokens, TokenMetadataJson));
  }

  void RevokeToken(const httplib::Request& req, httplib::Response& res,
                   const std::vector<std::string>& params) const {
    std::optional<Caller> caller = Authenticate(req, res, "write:tokens");
    if (!caller || !CheckSlugs(params, res)) return;
    absl::Status status = store->RevokeToken(caller->organization, params[0],
                                             params[1], caller->actor);
    if (!status.ok()) {
      return SendStatusProblem(
          res,
          RenameFields(status, {{"service_account", "serviceAccountSlug"},
                                {"serviceAccount", "serviceAccountSlug"},
                                {"slug", "tokenSlug"}}),
          {});
    }
    res.status = 204;
  }

  // SendPathStatus maps a store error of a call whose only inputs are the
  // account slug (path) and pagination (query).
  void SendPathStatus(httplib::Response& res,
                      const absl::Status& status) const {
    SendStatusProblem(
        res,
        RenameFields(status, {{"slug", "serviceAccountSlug"},
                              {"service_account", "serviceAccountSlug"},
                              {"serviceAccount", "serviceAccountSlug"}}),
        {});
  }

  void Whoami(const httplib::Request& req, httplib::Response& res) const {
    std::variant<Principal, Problem> result =
        auth.VerifyKeygateToken(req.get_header_value_count("Authorization"),
                                req.get_header_value("Authorization"), {}, {},
                                &t_request_log.auth_failure);
    if (auto* problem = std::get_if<Problem>(&result)) {
      return SendProblem(res, *problem);
    }
    SendJson(res, 200, WhoamiJson(std::get<Principal>(result)));
  }

  void AuthCheck(const httplib::Request& req, httplib::Response& res) const {
    ProblemContext context;
    context.path_fields.clear();
    std::string scope;
    if (req.has_param("scope")) {
      scope = req.get_param_value("scope");
      context.query_fields = {"scope"};
    } else if (req.has_header("X-Keygate-Required-Scope")) {
      scope = req.get_header_value("X-Keygate-Required-Scope");
      context.query_fields.clear();
    }
    std::variant<Principal, Problem> result =
        auth.VerifyKeygateToken(req.get_header_value_count("Authorization"),
                                req.get_header_value("Authorization"), scope,
                                context, &t_request_log.auth_failure);
    if (auto* problem = std::get_if<Problem>(&result)) {
      if (context.query_fields.empty()) {
        // A bad header scope: say where it came from.
        for (ProblemError& e : problem->errors) {
          if (e.location == "body.scope") {
            e.location = "header.X-Keygate-Required-Scope";
          }
        }
      }
      return SendProblem(res, *problem);
    }
    const Principal& principal = std::get<Principal>(result);
    res.set_header("X-Keygate-Organization",
                   std::string(principal.organization()));
    res.set_header("X-Keygate-Service-Account",
                   std::string(principal.service_account()));
    res.set_header("X-Keygate-Token", std::string(principal.token_slug()));
    res.set_header("X-Keygate-Scopes", absl::StrJoin(principal.scopes(), " "));
    SendJson(res, 200, WhoamiJson(principal));
  }

  // ----- dispatch
  // --------------------------------------------------------------
  void Dispatch(const httplib::Request& req, httplib::Response& res) const {
    std::vector<std::string> params;
    const Route* route = MatchRoute(req.path, params);
    if (route == nullptr) {
      SendProblem(res, HttpProblem(404, "No route matches the request path."));
      return;
    }
    t_request_log.route = route->pattern;
    // HEAD is served by the GET handler (httplib drops the body).
    std::string_view method = req.method;
    if (method == "HEAD") method = "GET";
    for (const MethodOp& m : route->methods) {
      if (method == m.method) return Handle(m.op, req, res, params);
    }
    Problem problem =
        HttpProblem(405, absl::StrCat("The method is not allowed; use ",
                                      AllowHeader(*route), "."));
    problem.headers.emplace_back("Allow", AllowHeader(*route));
    SendProblem(res, problem);
  }

  // Renders a problem for every error response httplib produced on its own
  // (413 oversized body, 400 unparsable request, 414 long URI, ...).
  void RenderError(const httplib::Request& req, httplib::Response& res) const {
    if (!res.body.empty()) return;
    std::string detail;
    switch (res.status) {
      case 413:
        detail = TooLargeDetail();
        break;
      case 414:
        detail = "The request URI is too long.";
        break;
      case 400:
        detail = "The request could not be parsed.";
        break;
      case 404:
        detail = "No route matches the request path.";
        break;
      default:
        detail = "The request could not be served.";
        break;
    }
    Problem problem = HttpProblem(res.status, detail);
    SendProblem(res, problem);
  }

  void LogRequest(const httplib::Request& req,
                  const httplib::Response& res) const {
    static const char* kMethods[] = {"GET",     "HEAD",   "POST",
                                     "PUT",     "DELETE", "CONNECT",
                                     "OPTIONS", "TRACE",  "PATCH"};
    const char* method = "-";
    for (const char* m : kMethods) {
      if (req.method == m) method = m;
    }
    long long micros = -1;
    if (t_request_log.started) {
      micros = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - t_request_log.start)
                   .count();
    }
    std::string line =
        absl::StrCat("request method=", method, " route=", t_request_log.route,
                     " status=", res.status, " duration_us=", micros);
    if (!t_request_log.auth_failure.empty() && res.status >= 400) {
      absl::StrAppend(&line, " auth_failure=\"", t_request_log.auth_failure,
                      "\"");
    }
    Log(line);
    t_request_log = RequestLog();
  }

  Store* store;
  HttpServerOptions options;
  Authenticator auth;
  httplib::Server server;

  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;  // guarded by mu
  bool running = false;         // guarded by mu
};

HttpServer::HttpServer(Store* store, const JwtVerifier* verifier,
                       HttpServerOptions options)
    : impl_(std::make_unique<Impl>(store, verifier, std::move(options))) {
  Impl* impl = impl_.get();
  httplib::Server& svr = impl->server;
  size_t threads = impl->options.threads > 0
                       ? static_cast<size_t>(impl->options.threads)
                       : std::max(1u, std::thread::hardware_concurrency());
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(impl->options.max_body_bytes);
  svr.set_keep_alive_max_count(20);
  svr.set_keep_alive_timeout(2);
  svr.set_read_timeout(10);
  svr.set_write_timeout(10);

  svr.set_pre_routing_handler(
      [impl](const httplib::Request& req, httplib::Response& res) {
        t_request_log.start = std::chrono::steady_clock::now();
        t_request_log.started = true;
        t_request_log.route = "-";
        // cpp-httplib 0.11 reads a POST/PUT/PATCH/DELETE body without
        // Content-Length or chunked encoding until the peer closes, so such
        // a request (which has no body, RFC 9112 section 6.3) would hang
        // until the read timeout. Answer it here, with an empty body.
        if ((req.method == "POST" || req.method == "PUT" ||
             req.method == "PATCH" || req.method == "DELETE") &&
            !req.has_header("Content-Length") &&
            !req.has_header("Transfer-Encoding")) {
          impl->Dispatch(req, res);
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
  auto dispatch = [impl](const httplib::Request& req, httplib::Response& res) {
    impl->Dispatch(req, res);
  };
  svr.Get(".*", dispatch);
  svr.Post(".*", dispatch);
  svr.Put(".*", dispatch);
  svr.Patch(".*", dispatch);
  svr.Delete(".*", dispatch);
  svr.Options(".*", dispatch);
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [impl](const httplib::Request& req, httplib::Response& res) {
        impl->RenderError(req, res);
        return httplib::Server::HandlerResponse::Handled;
      }));
  svr.set_exception_handler([impl](const httplib::Request&,
                                   httplib::Response& res,
                                   std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    impl->Log(absl::StrCat("error: exception in handler: ", what));
    res.headers.clear();
    res.body.clear();
    Impl::SendProblem(res, HttpProblem(500, "An internal error occurred."));
  });
  svr.set_logger(
      [impl](const httplib::Request& req, const httplib::Response& res) {
        impl->LogRequest(req, res);
      });
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Bind(const std::string& host, int port) {
  int bound = 0;
  if (port == 0) {
    bound = impl_->server.bind_to_any_port(host);
    if (bound <= 0) bound = 0;
  } else if (impl_->server.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port));
  }
  return bound;
}

absl::Status HttpServer::Run() {
  Impl* impl = impl_.get();
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    if (impl->stop_requested) return absl::OkStatus();
    impl->running = true;
  }
  // httplib's stop() is a no-op until listen_after_bind marks the server
  // running, and must be called only once after that (it asserts the socket
  // is still open), so the watcher waits for is_running() and stops once.
  std::thread watcher([impl] {
    std::unique_lock<std::mutex> lock(impl->mu);
    impl->cv.wait(lock,
                  [impl] { return impl->stop_requested || !impl->running; });
    while (impl->running) {
      if (impl->server.is_running()) {
        impl->server.stop();
        return;
      }
      impl->cv.wait_for(lock, std::chrono::milliseconds(5),
                        [impl] { return !impl->running; });
    }
  });
  bool ok = impl->server.listen_after_bind();
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    impl->running = false;
  }
  impl->cv.notify_all();
  watcher.join();
  if (!ok) {
    std::lock_guard<std::mutex> lock(impl->mu);
    if (!impl->stop_requested) {
      return absl::UnavailableError("the HTTP server stopped unexpectedly");
    }
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop_requested = true;
  }
  impl_->cv.notify_all();
}

}  // namespace keygate::tool
