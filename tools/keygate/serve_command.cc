// tools/keygate/serve_command.cc: the `keygate serve` subcommand.
#include "tools/keygate/serve_command.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tools/keygate/http_server.h"
#include "keygate/http/jwt.h"

namespace keygate::tool {
namespace {

struct ServeFlags {
  std::string listen = "127.0.0.1:8080";
  std::string jwt_secret_file;
  std::string org_claim = "org";
  size_t max_body_bytes = 64 * 1024;
  int threads = 0;
  std::string port_file;
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

int RunServe(const GlobalOptions& global_flags, const ServeFlags& flags) {
  std::string host;
  int port = 0;
  if (!ParseListen(flags.listen, host, port)) {
    Log(absl::StrCat("--listen must be HOST:PORT, got \"", flags.listen, "\""));
    return 2;
  }
  if (flags.max_body_bytes == 0) {
    Log("--max-body-bytes must be positive");
    return 2;
  }

  // Block the shutdown signals before any thread exists (RocksDB and httplib
  // start their own), so only the watcher below ever receives them.
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
      http::JwtVerifier::FromSecretFile(flags.jwt_secret_file, flags.org_claim);
  if (!verifier.ok()) {
    Log(absl::StrCat("cannot load the JWT secret: ",
                     verifier.status().message()));
    return 1;
  }

  GlobalOptions globals = global_flags;
  ResolveDefaults(globals);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(globals);
  if (!store.ok()) {
    Log(absl::StrCat("cannot open the store: ", store.status().ToString()));
    return 1;
  }

  int exit_code = 0;
  {
    HttpServerOptions options;
    options.max_body_bytes = flags.max_body_bytes;
    options.threads = flags.threads;
    options.log = [](std::string_view line) { Log(line); };
    HttpServer server(store->get(), &*verifier, std::move(options));

    absl::StatusOr<int> bound = server.Bind(host, port);
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
    Log(absl::StrCat("listening on ", host, ":", *bound, " (data dir ",
                     globals.data_dir, ")"));

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
        server.Stop();
        return;
      }
    });

    absl::Status run = server.Run();
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
                   "newline trimmed)")
      ->required();
  serve
      ->add_option("--org-claim", flags->org_claim,
                   "JWT claim holding the caller's organization")
      ->capture_default_str();
  serve
      ->add_option("--max-body-bytes", flags->max_body_bytes,
                   "largest accepted request body")
      ->capture_default_str()
      ->check(
          CLI::Range(static_cast<size_t>(1), static_cast<size_t>(64) << 20));
  serve
      ->add_option("--threads", flags->threads,
                   "worker threads (default: hardware concurrency)")
      ->check(CLI::Range(0, 1024));
  serve->add_option("--port-file", flags->port_file,
                    "write the bound port to FILE once listening");
  serve->callback(
      [&globals, &exit_code, flags] { exit_code = RunServe(globals, *flags); });
}

}  // namespace keygate::tool
