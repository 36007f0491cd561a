// examples/embed_host/main.cc: a host application that embeds keygate.
//
// A small order service on cpp-httplib (a different HTTP library from the
// one `keygate serve` uses) that:
//   - mounts keygate's management API under /api (service accounts and
//     tokens for its organizations, administered with HS256 JWTs), and
//   - protects its own GET /orders with a keygate token holding
//     `read:orders` ("orders" is registered as a scope module).
// Everything between the socket and the store comes from keygate::http; the
// host only converts its server's request and response types.
//
//   embed_host --data-dir DIR --jwt-secret-file FILE --port-file FILE
#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "keygate/http/http.h"
#include "keygate/keygate.h"

namespace {

// ToKeygate converts cpp-httplib's request. `target` is the raw
// request-target: keygate routes on the undecoded path.
keygate::http::Request ToKeygate(const httplib::Request& in) {
  keygate::http::Request out;
  out.method = in.method;
  out.target = in.target;
  for (const auto& [name, value] : in.headers) {
    out.headers.push_back({name, value});
  }
  out.body = in.body;
  return out;
}

// Send copies keygate's response into cpp-httplib's, wiping the copy of a
// body that carries a new token once cpp-httplib has it.
void Send(keygate::http::Response response, httplib::Response& out) {
  out.status = response.status;
  std::string content_type = "text/plain";
  for (const auto& header : response.headers) {
    if (keygate::http::EqualsIgnoreCase(header.name, "Content-Type")) {
      content_type = header.value;
    } else {
      out.set_header(header.name.c_str(), header.value);
    }
  }
  if (!response.body.empty()) out.set_content(response.body, content_type);
  // `response` wipes its own buffer if sensitive when it goes out of scope.
}

struct Flags {
  std::string data_dir = "embed-host-data";
  std::string jwt_secret_file;
  std::string port_file;
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string name = argv[i];
    if (name == "--data-dir") {
      flags.data_dir = argv[i + 1];
    } else if (name == "--jwt-secret-file") {
      flags.jwt_secret_file = argv[i + 1];
    } else if (name == "--port-file") {
      flags.port_file = argv[i + 1];
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && !flags.jwt_secret_file.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::cerr << "usage: embed_host [--data-dir DIR] --jwt-secret-file FILE "
                 "[--port-file FILE]\n";
    return 2;
  }

  // Only the stopper thread below takes SIGTERM / SIGINT.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The store: its pepper lives next to it here; keep it apart in production.
  std::string pepper = flags.data_dir + ".pepper";
  if (absl::Status s = keygate::Keyring::CreateFile(pepper);
      !s.ok() && !absl::IsAlreadyExists(s)) {
    std::cerr << s << "\n";
    return 1;
  }
  auto keyring = keygate::Keyring::Load(pepper);
  if (!keyring.ok()) {
    std::cerr << keyring.status() << "\n";
    return 1;
  }
  keygate::Options options;
  options.path = flags.data_dir;
  options.keyring = *keyring;
  options.scope_modules = {"service_accounts", "tokens", "orders"};
  auto store = keygate::Store::Open(options);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }

  // Who may administer: the host's own JWTs, or keygate tokens.
  auto verifier = keygate::http::JwtVerifier::FromSecretFile(
      flags.jwt_secret_file);
  if (!verifier.ok()) {
    std::cerr << verifier.status() << "\n";
    return 1;
  }
  keygate::http::TokenCallerResolver token_callers(store->get());
  keygate::http::JwtCallerResolver jwt_callers(&*verifier);
  keygate::http::BearerCallerResolver callers(
      std::string((*store)->token_prefix()), &token_callers, &jwt_callers);
  keygate::http::ManagementApiOptions api_options;
  api_options.path_prefix = "/api";
  keygate::http::ManagementApi api(store->get(), &callers, api_options);

  httplib::Server server;
  // The host's own route, protected by a keygate token with read:orders.
  server.Get("/orders", [&](const httplib::Request& req,
                            httplib::Response& res) {
    std::variant<keygate::Principal, keygate::http::Problem> who =
        keygate::http::VerifyBearer(**store, ToKeygate(req), "read:orders");
    if (auto* problem = std::get_if<keygate::http::Problem>(&who)) {
      return Send(keygate::http::ProblemResponse(*problem), res);
    }
    const auto& principal = std::get<keygate::Principal>(who);
    std::string body = "{\"organization\":\"" +
                       std::string(principal.organization()) +
                       "\",\"orders\":[]}";
    res.set_content(body, "application/json");
  });
  // Everything under /api is keygate's.
  auto mount = [&](const httplib::Request& req, httplib::Response& res) {
    Send(api.Handle(ToKeygate(req)), res);
  };
  server.Get("/api/.*", mount);
  server.Post("/api/.*", mount);
  server.Patch("/api/.*", mount);
  server.Delete("/api/.*", mount);

  int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    std::cerr << "cannot listen\n";
    return 1;
  }
  if (!flags.port_file.empty()) {
    std::string tmp = flags.port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), flags.port_file.c_str());
  }
  std::cerr << "embed_host listening on 127.0.0.1:" << port << "\n";
  // SIGTERM / SIGINT stop the server; the store is then closed cleanly.
  std::thread stopper([&server, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
  });
  server.listen_after_bind();
  if (stopper.joinable()) {
    pthread_kill(stopper.native_handle(), SIGTERM);
    stopper.join();
  }
  return (*store)->Close().ok() ? 0 : 1;
}
