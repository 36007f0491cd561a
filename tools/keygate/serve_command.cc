// tools/keygate/serve_command.cc: the `keygate serve` subcommand.
//
// A thin binding: flags -> keygate::http::ManagementApi (everything between
// the socket and the store) served by HttpListener (Boost.Beast), plus
// signals, the retention purge and the log.
#include "tools/keygate/serve_command.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "keygate/http/caller.h"
#include "keygate/http/jwt.h"
#include "keygate/http/management_api.h"
#include "keygate/http/scanner_signature.h"
#include "keygate/http/secret_scanning.h"
#include "tools/keygate/commands.h"
#include "tools/keygate/http_listener.h"
#include "tools/keygate/webhook_http_transport.h"
#include "keygate/webhook_deliverer.h"
#include "lib/postgres/leader_lock.h"

namespace keygate::tool {
namespace {

struct ServeFlags {
  std::string listen = "127.0.0.1:8080";
  std::string jwt_secret_file;
  std::string org_claim = "org";
  std::string jwt_issuer;
  std::string jwt_audience;
  std::string jwt_max_lifetime = "24h";
  size_t max_body_bytes = 64 * 1024;
  size_t max_header_bytes = 16 * 1024;
  size_t max_header_count = 100;
  std::string head_timeout = "10s";
  std::string body_timeout = "30s";
  std::string idle_timeout = "30s";
  size_t max_connections = 1024;
  int threads = 0;
  std::string port_file;
  std::string auth_check_scope;
  bool auth_check_scope_from_header = false;
  uint32_t max_active_tokens_per_org = 0;
  uint32_t max_webhooks_per_org = 20;
  bool webhook_allow_private_targets = false;
  bool webhook_https_only = false;
  std::vector<std::string> webhook_allow_hosts;
  std::vector<std::string> webhook_deny_hosts;
  std::string purge_interval = "1h";
  std::string due_events_interval = "1m";
  bool webhook_delivery = true;
  uint32_t webhook_failure_streak_limit = 30;
  std::string webhook_retry_base = "1s";
  std::string webhook_retry_cap = "1h";
  std::string webhook_timeout = "10s";
  size_t webhook_delivery_threads = 4;
  size_t webhook_delivery_max_per_org = 0;
  std::string webhook_ca_file;  // empty: the system trust store
  std::string problem_type_base;
  std::string secret_scanning_keys;
};

// ParseListen splits HOST:PORT ("[::1]:8080" for IPv6).
bool ParseListen(const std::string& listen, std::string& host, int& port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string port_text = listen.substr(colon + 1);
  if (host.empty() || port_text.empty() || port_text.size() > 5) return false;
  for (char c : port_text) {
    if (c < '0' || c > '9') return false;
  }
  if (!absl::SimpleAtoi(absl::string_view(port_text), &port)) return false;
  return port >= 0 && port <= 65535;
}

// WritePortFile writes the port atomically (temp file + rename), so a reader
// polling for the file never sees a partial number.
bool WritePortFile(const std::string& path, int port) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.close();
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

void Log(std::string_view line) {
  std::string out = "keygate serve: " + std::string(line) + "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);
}

// RaiseOpenFileLimit raises the soft RLIMIT_NOFILE to the hard limit, so
// --max-connections is not cut short by a low default soft limit (often
// 1024) and accept does not fail with EMFILE first. Logs a line if it
// cannot; serving goes on either way.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    Log(absl::StrCat("cannot read RLIMIT_NOFILE: ", std::strerror(errno)));
    return;
  }
  if (limit.rlim_cur == limit.rlim_max) return;
  rlim_t soft = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    Log(absl::StrCat("cannot raise RLIMIT_NOFILE from ", soft, " to ",
                     limit.rlim_max, ": ", std::strerror(errno)));
  }
}

// PeriodicTask runs `work` every `interval` on its own thread until
// destroyed (a zero interval: never), for the store's housekeeping while
// serve holds it: the retention purge and the due-event scheduler.
class PeriodicTask {
 public:
  PeriodicTask(absl::Duration interval, std::function<void()> work)
      : interval_(interval), work_(std::move(work)) {
    if (interval_ > absl::ZeroDuration()) {
      thread_ = std::thread([this] { Loop(); });
    }
  }
  ~PeriodicTask() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_),
                       [this] { return stop_; })) {
        return;
      }
      lock.unlock();
      work_();
      lock.lock();
    }
  }

  absl::Duration interval_;
  std::function<void()> work_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// PurgeRetired deletes tokens retired longer ago than the retention and logs
// how many (serve's --purge-interval task).
void PurgeRetired(Store* store) {
  absl::StatusOr<PurgeResult> purged = store->PurgeRetired();
  if (!purged.ok()) {
    Log(absl::StrCat("purge failed: ", purged.status().ToString()));
  } else if (purged->tokens_purged > 0) {
    Log(absl::StrCat("purged ", purged->tokens_purged, " retired tokens"));
  }
}

// EmitDueEvents records the token.expired / token.expiring events that came
// due (serve's --due-events-interval task, with --record-events only).
void EmitDueEvents(Store* store) {
  absl::StatusOr<size_t> emitted = store->EmitDueEvents();
  if (!emitted.ok()) {
    Log(absl::StrCat("due events failed: ", emitted.status().ToString()));
  } else if (*emitted > 0) {
    Log(absl::StrCat("recorded ", *emitted, " due token events"));
  }
}

// ParseFlagDuration parses a duration flag; "0" or "off" means none when
// `allow_off`.
bool ParseFlagDuration(const std::string& flag, const std::string& text,
                       bool allow_off, absl::Duration& out) {
  if (allow_off && (text == "0" || text == "off")) {
    out = absl::ZeroDuration();
    return true;
  }
  absl::StatusOr<absl::Duration> parsed = ParseDurationArg(text);
  if (!parsed.ok()) {
    Log(absl::StrCat(flag, ": ", parsed.status().message()));
    return false;
  }
  out = *parsed;
  return true;
}

int RunServe(const GlobalOptions& global_flags, const ServeFlags& flags) {
  std::string host;
  int port = 0;
  if (!ParseListen(flags.listen, host, port)) {
    Log(absl::StrCat("--listen must be HOST:PORT, got \"", flags.listen, "\""));
    return 2;
  }
  RaiseOpenFileLimit();
  HttpListenerOptions listener_options;
  listener_options.max_body_bytes = flags.max_body_bytes;
  listener_options.max_header_bytes = flags.max_header_bytes;
  listener_options.max_header_count = flags.max_header_count;
  listener_options.max_connections = flags.max_connections;
  listener_options.threads = flags.threads;
  listener_options.log = [](std::string_view line) { Log(line); };
  absl::Duration purge_interval;
  absl::Duration due_events_interval;
  WebhookDelivererOptions delivery_options;
  delivery_options.failure_streak_limit = flags.webhook_failure_streak_limit;
  delivery_options.threads = flags.webhook_delivery_threads;
  delivery_options.max_in_flight_per_organization =
      flags.webhook_delivery_max_per_org;
  http::JwtVerifierOptions jwt_options;
  jwt_options.org_claim = flags.org_claim;
  if (!flags.jwt_issuer.empty()) jwt_options.issuer = flags.jwt_issuer;
  if (!flags.jwt_audience.empty()) jwt_options.audience = flags.jwt_audience;
  if (!ParseFlagDuration("--head-timeout", flags.head_timeout, false,
                         listener_options.head_timeout) ||
      !ParseFlagDuration("--body-timeout", flags.body_timeout, false,
                         listener_options.body_timeout) ||
      !ParseFlagDuration("--idle-timeout", flags.idle_timeout, false,
                         listener_options.idle_timeout) ||
      !ParseFlagDuration("--purge-interval", flags.purge_interval, true,
                         purge_interval) ||
      !ParseFlagDuration("--due-events-interval", flags.due_events_interval,
                         true, due_events_interval) ||
      !ParseFlagDuration("--jwt-max-lifetime", flags.jwt_max_lifetime, false,
                         jwt_options.max_lifetime) ||
      !ParseFlagDuration("--webhook-retry-base", flags.webhook_retry_base,
                         false, delivery_options.retry_base) ||
      !ParseFlagDuration("--webhook-retry-cap", flags.webhook_retry_cap,
                         false, delivery_options.retry_cap) ||
      !ParseFlagDuration("--webhook-timeout", flags.webhook_timeout, false,
                         delivery_options.request_timeout)) {
    return 2;
  }
  // The TLS client context of https webhook deliveries, built before
  // anything is opened so that a bad --webhook-ca-file stops serve here.
  std::shared_ptr<WebhookTlsContext> webhook_tls;
  {
    absl::StatusOr<std::unique_ptr<WebhookTlsContext>> made =
        WebhookTlsContext::Create(flags.webhook_ca_file);
    if (!made.ok()) {
      Log(std::string(made.status().message()));
      return 2;
    }
    webhook_tls = *std::move(made);
  }
  http::ManagementApiOptions api_options;
  api_options.max_body_bytes = flags.max_body_bytes;
  if (!flags.problem_type_base.empty()) {
    api_options.problem_type_base = flags.problem_type_base;
  }
  if (!flags.auth_check_scope.empty() && flags.auth_check_scope_from_header) {
    Log("--auth-check-scope and --auth-check-scope-from-header exclude each "
        "other");
    return 2;
  }
  if (!flags.auth_check_scope.empty()) {
    api_options.auth_check_scope.source = http::AuthCheckScope::Source::kFixed;
    api_options.auth_check_scope.fixed = flags.auth_check_scope;
  } else if (flags.auth_check_scope_from_header) {
    api_options.auth_check_scope.source =
        http::AuthCheckScope::Source::kHeader;
  }

  // Block the shutdown signals before any thread exists (RocksDB and the
  // listener start their own), so only the watcher below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // internal: wakes the watcher at exit
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);
  struct MaskRestorer {
    sigset_t mask;
    ~MaskRestorer() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};

  absl::StatusOr<http::JwtVerifier> verifier =
      http::JwtVerifier::FromSecretFile(flags.jwt_secret_file, jwt_options);
  if (!verifier.ok()) {
    Log(absl::StrCat("cannot load the JWT secret: ",
                     verifier.status().message()));
    return 1;
  }
  // The leaked-token receiver is on only with its keys: it revokes tokens
  // of every organization on a scanner's signature.
  std::optional<http::ScannerSignatureVerifier> scanner_keys;
  if (!flags.secret_scanning_keys.empty()) {
    absl::StatusOr<http::ScannerSignatureVerifier> keys =
        http::ScannerSignatureVerifier::FromKeysFile(
            flags.secret_scanning_keys);
    if (!keys.ok()) {
      Log(absl::StrCat("--secret-scanning-keys: ", keys.status().message()));
      return 1;
    }
    scanner_keys.emplace(*std::move(keys));
  }

  GlobalOptions globals = global_flags;
  ResolveDefaults(globals);
  absl::StatusOr<std::unique_ptr<Store>> store =
      OpenStore(globals, [&](Options& options) {
        options.max_active_tokens_per_organization =
            flags.max_active_tokens_per_org;
        options.max_webhook_endpoints_per_organization =
            flags.max_webhooks_per_org;
        options.webhook_targets.allow_private_targets =
            flags.webhook_allow_private_targets;
        options.webhook_targets.allow_http = !flags.webhook_https_only;
        options.webhook_targets.allowed_hosts = flags.webhook_allow_hosts;
        options.webhook_targets.denied_hosts = flags.webhook_deny_hosts;
      });
  if (!store.ok()) {
    Log(absl::StrCat("cannot open the store: ", store.status().ToString()));
    return 1;
  }
  if (!flags.auth_check_scope.empty()) {
    // A scope the store cannot parse would refuse every check: say so now.
    absl::StatusOr<Principal> probe =
        (*store)->Verify("", flags.auth_check_scope);
    if (absl::IsInvalidArgument(probe.status())) {
      Log(absl::StrCat("--auth-check-scope: not a valid scope: ",
                       flags.auth_check_scope));
      (void)(*store)->Close();
      return 2;
    }
  }

  int exit_code = 0;
  {
    http::TokenCallerResolver token_callers(store->get());
    http::JwtCallerResolver jwt_callers(&*verifier);
    http::BearerCallerResolver callers(std::string((*store)->token_prefix()),
                                       &token_callers, &jwt_callers);
    std::optional<http::SecretScanningReceiver> secret_scanning;
    if (scanner_keys.has_value()) {
      secret_scanning.emplace(store->get(), *scanner_keys);
      api_options.secret_scanning = &*secret_scanning;
      Log(absl::StrCat("secret scanning reports accepted at POST ",
                       api_options.path_prefix, "/secret-scanning/report (",
                       scanner_keys->key_count(), " scanner keys)"));
    }
    http::ManagementApi api(store->get(), &callers, std::move(api_options));
    HttpListener listener(
        [&api](const http::Request& request, std::string* log_fields) {
          return api.Handle(request, log_fields);
        },
        std::move(listener_options));

    absl::StatusOr<int> bound = listener.Bind(host, port);
    if (!bound.ok()) {
      Log(std::string(bound.status().message()));
      (void)(*store)->Close();
      return 1;
    }
    if (!flags.port_file.empty() && !WritePortFile(flags.port_file, *bound)) {
      Log(absl::StrCat("cannot write --port-file ", flags.port_file, ": ",
                       std::strerror(errno)));
      (void)(*store)->Close();
      return 1;
    }
    Log(absl::StrCat("listening on ", host, ":", *bound, " (store ",
                     StoreLabel(globals), ")"));

    std::atomic<bool> done{false};
    std::thread watcher([&] {
      while (true) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGUSR1) {
          if (done.load()) return;
          continue;
        }
        Log(absl::StrCat(sig == SIGTERM ? "SIGTERM" : "SIGINT",
                         " received: finishing in-flight requests"));
        listener.Stop();
        return;
      }
    });

    absl::Status run;
    {
      Store* served = store->get();
      // Webhook delivery (with --record-events): the same target policy as
      // endpoint creation, checked again on every resolved address.
      std::unique_ptr<WebhookDeliverer> deliverer;
      // A fleet elects one process to deliver: the others would send every
      // event again and count every failure again.
      std::unique_ptr<postgres::LeaderLock> delivery_leader;
      if (globals.record_events && flags.webhook_delivery) {
        if (!globals.postgres.empty()) {
          delivery_leader = std::make_unique<postgres::LeaderLock>(
              globals.postgres, postgres::kWebhookDeliveryLockKey);
          postgres::LeaderLock* leader = delivery_leader.get();
          delivery_options.may_deliver = [leader] { return leader->held(); };
        }
        delivery_options.target_policy.allow_private_targets =
            flags.webhook_allow_private_targets;
        delivery_options.target_policy.allow_http = !flags.webhook_https_only;
        delivery_options.target_policy.allowed_hosts =
            flags.webhook_allow_hosts;
        delivery_options.target_policy.denied_hosts = flags.webhook_deny_hosts;
        absl::StatusOr<std::unique_ptr<WebhookDeliverer>> started =
            WebhookDeliverer::Start(
                served,
                [&webhook_tls] {
                  WebhookHttpTransportOptions transport_options;
                  transport_options.tls = webhook_tls;
                  return std::make_shared<WebhookHttpTransport>(
                      std::move(transport_options));
                }(),
                delivery_options);
        if (!started.ok()) {
          Log(absl::StrCat("webhook delivery: ", started.status().message()));
        } else {
          deliverer = *std::move(started);
          Log(globals.postgres.empty()
                  ? "webhook delivery on"
                  : "webhook delivery on (a fleet: this process delivers "
                    "while it holds the fleet's delivery lock)");
        }
      }
      PeriodicTask purger(purge_interval, [served] { PurgeRetired(served); });
      PeriodicTask due_events(
          globals.record_events ? due_events_interval : absl::ZeroDuration(),
          [served] { EmitDueEvents(served); });
      run = listener.Run();
      if (deliverer) deliverer->Stop();
      if (delivery_leader) delivery_leader->Stop();
    }
    done.store(true);
    pthread_kill(watcher.native_handle(), SIGUSR1);
    watcher.join();
    if (!run.ok()) {
      Log(run.ToString());
      exit_code = 1;
    }
  }

  absl::Status closed = (*store)->Close();
  if (!closed.ok()) {
    Log(absl::StrCat("closing the store failed: ", closed.ToString()));
    return 1;
  }
  Log("stopped");
  return exit_code;
}

}  // namespace

void AddServeCommand(CLI::App& app, const GlobalOptions& globals,
                     int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand(
      "serve", "Serve the service-account token API over HTTP");
  serve
      ->add_option("--listen", flags->listen,
                   "HOST:PORT to listen on; port 0 picks a free port")
      ->capture_default_str();
  serve
      ->add_option("--jwt-secret-file", flags->jwt_secret_file,
                   "HS256 key of the management JWTs (file bytes, trailing "
                   "newline trimmed; mode 0600 or stricter)")
      ->required();
  serve
      ->add_option("--org-claim", flags->org_claim,
                   "JWT claim holding the caller's organization")
      ->capture_default_str();
  serve->add_option("--jwt-issuer", flags->jwt_issuer,
                    "require this `iss` in every JWT");
  serve->add_option("--jwt-audience", flags->jwt_audience,
                    "require this `aud` in every JWT (without it, a JWT "
                    "that names an audience is refused)");
  serve
      ->add_option("--jwt-max-lifetime", flags->jwt_max_lifetime,
                   "refuse JWTs valid for longer (exp - now, exp - iat)")
      ->capture_default_str();
  serve
      ->add_option("--max-body-bytes", flags->max_body_bytes,
                   "largest accepted request body (413 beyond)")
      ->capture_default_str()
      ->check(
          CLI::Range(static_cast<size_t>(1), static_cast<size_t>(64) << 20));
  serve
      ->add_option("--max-header-bytes", flags->max_header_bytes,
                   "largest request head: request line and fields (431 "
                   "beyond)")
      ->capture_default_str()
      ->check(CLI::Range(static_cast<size_t>(1024),
                         static_cast<size_t>(1) << 20));
  serve
      ->add_option("--max-header-count", flags->max_header_count,
                   "most header fields in a request (431 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(static_cast<size_t>(8), static_cast<size_t>(10000)));
  serve
      ->add_option("--head-timeout", flags->head_timeout,
                   "time a client has to send a whole request head")
      ->capture_default_str();
  serve
      ->add_option("--body-timeout", flags->body_timeout,
                   "time a client has to send a request body")
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout", flags->idle_timeout,
                   "how long an idle keep-alive connection is kept")
      ->capture_default_str();
  serve
      ->add_option("--max-connections", flags->max_connections,
                   "most concurrent connections; more are closed at once")
      ->capture_default_str()
      ->check(CLI::Range(static_cast<size_t>(1), static_cast<size_t>(100000)));
  serve
      ->add_option("--threads", flags->threads,
                   "worker threads running requests (default: hardware "
                   "concurrency)")
      ->check(CLI::Range(0, 1024));
  serve->add_option("--port-file", flags->port_file,
                    "write the bound port to FILE once listening");
  serve->add_option("--auth-check-scope", flags->auth_check_scope,
                    "scope every GET /auth/check requires");
  serve->add_flag("--auth-check-scope-from-header",
                  flags->auth_check_scope_from_header,
                  "GET /auth/check requires the scope in the "
                  "X-Keygate-Required-Scope header, which your proxy sets");
  serve
      ->add_option("--max-active-tokens-per-org",
                   flags->max_active_tokens_per_org,
                   "active-token quota per organization (0: none; 429 "
                   "beyond)")
      ->capture_default_str();
  serve
      ->add_option("--max-webhooks-per-org", flags->max_webhooks_per_org,
                   "webhook endpoints per organization (1-1000; 429 beyond)")
      ->capture_default_str();
  serve->add_flag("--webhook-allow-private-targets",
                  flags->webhook_allow_private_targets,
                  "FOR LOCAL TESTING ONLY: let webhook URLs point at "
                  "loopback, private and link-local addresses and local "
                  "names (tenants could then reach this host's network)");
  serve->add_flag("--webhook-https-only", flags->webhook_https_only,
                  "refuse http:// webhook URLs");
  serve
      ->add_option("--webhook-allow-host", flags->webhook_allow_hosts,
                   "only these webhook hosts (repeatable; .example.com "
                   "matches every host under it)")
      ->type_name("HOST")
      ->delimiter(',');
  serve
      ->add_option("--webhook-deny-host", flags->webhook_deny_hosts,
                   "refuse these webhook hosts (repeatable; same matching)")
      ->type_name("HOST")
      ->delimiter(',');
  serve
      ->add_option("--purge-interval", flags->purge_interval,
                   "how often to delete tokens retired longer than the "
                   "retention (30 days); 0 or off: never")
      ->capture_default_str();
  serve
      ->add_option("--due-events-interval", flags->due_events_interval,
                   "with --record-events: how often to record the "
                   "token.expired and token.expiring events that came due; "
                   "0 or off: never")
      ->capture_default_str();
  serve->add_flag("--webhook-delivery,!--no-webhook-delivery",
                  flags->webhook_delivery,
                  "with --record-events: deliver events to the webhook "
                  "endpoints (on by default)");
  serve
      ->add_option("--webhook-failure-streak-limit",
                   flags->webhook_failure_streak_limit,
                   "failed deliveries in a row that disable an endpoint "
                   "(0: never)")
      ->capture_default_str();
  serve
      ->add_option("--webhook-retry-base", flags->webhook_retry_base,
                   "first retry delay of a failed delivery (doubles per "
                   "attempt, full jitter)")
      ->capture_default_str();
  serve
      ->add_option("--webhook-retry-cap", flags->webhook_retry_cap,
                   "longest retry delay of a failed delivery")
      ->capture_default_str();
  serve
      ->add_option("--webhook-timeout", flags->webhook_timeout,
                   "budget of one delivery attempt")
      ->capture_default_str();
  serve
      ->add_option("--webhook-delivery-threads",
                   flags->webhook_delivery_threads,
                   "endpoints with a delivery in flight at once (1-256)")
      ->capture_default_str();
  serve
      ->add_option("--webhook-delivery-max-per-org",
                   flags->webhook_delivery_max_per_org,
                   "most endpoints of one organization with a delivery in "
                   "flight at once (0: --webhook-delivery-threads)")
      ->capture_default_str();
  serve
      ->add_option("--webhook-ca-file", flags->webhook_ca_file,
                   "verify https webhook receivers against only the CA "
                   "certificates of this PEM file (default: the system "
                   "trust store)")
      ->type_name("FILE");
  serve->add_option("--problem-type-base", flags->problem_type_base,
                    "base URI of keygate's problem types in answers "
                    "(default https://keygate.dev/problems/)");
  serve->add_option("--secret-scanning-keys", flags->secret_scanning_keys,
                    "enable POST /secret-scanning/report: a secret "
                    "scanner's public keys document (GitHub's "
                    "meta/public_keys/secret_scanning JSON); reported live "
                    "tokens of any organization are revoked")
      ->type_name("FILE");
  serve->callback(
      [&globals, &exit_code, flags] { exit_code = RunServe(globals, *flags); });
}

}  // namespace keygate::tool
