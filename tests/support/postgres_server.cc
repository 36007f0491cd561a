// tests/support/postgres_server.cc: the throwaway PostgreSQL server.
#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/postgres/connection.h"

namespace keygate::testing {
namespace {

// NewestPostgresBin returns the newest /usr/lib/postgresql/<major>/bin that
// has initdb and postgres, or "" if none.
std::string NewestPostgresBin() {
  std::error_code ec;
  int best_major = -1;
  std::string best;
  for (const auto& entry :
       std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    int major = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &major)) continue;
    const std::string bin = entry.path().string() + "/bin";
    if (access((bin + "/initdb").c_str(), X_OK) != 0 ||
        access((bin + "/postgres").c_str(), X_OK) != 0) {
      continue;
    }
    if (major > best_major) {
      best_major = major;
      best = bin;
    }
  }
  return best;
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Identity is who the PostgreSQL children run as: the postgres system user
// when we are root, ourselves otherwise (switch false).
struct Identity {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

absl::StatusOr<Identity> ChildIdentity() {
  Identity identity;
  if (geteuid() != 0) return identity;
  const passwd* user = getpwnam("postgres");
  if (user == nullptr) {
    return absl::InternalError(
        "running as root, and there is no postgres user to run PostgreSQL as");
  }
  identity.switch_user = true;
  identity.uid = user->pw_uid;
  identity.gid = user->pw_gid;
  return identity;
}

// Spawn forks and execs args[0] with `env`, output appended to `log`, in
// `dir`, as `identity`, with no descriptor of ours but 0-2. Everything is
// built before fork: the child only makes system calls. Returns the
// child's PID (-1 on failure).
pid_t Spawn(std::vector<std::string> args, std::vector<std::string> env,
            const std::string& log, const std::string& dir,
            const Identity& identity) {
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const long open_max = sysconf(_SC_OPEN_MAX);
  const int max_fd = open_max > 0 && open_max < (1 << 20)
                         ? static_cast<int>(open_max)
                         : (1 << 16);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) _exit(126);
    dup2(fd, 1);
    dup2(fd, 2);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    // Nothing else of the test binary's (sockets, pipes, a store's files)
    // may live on in the server. close_range needs Linux 5.9.
    if (close_range(3, ~0U, 0) != 0) {
      for (int other = 3; other < max_fd; ++other) close(other);
    }
    if (chdir(dir.c_str()) != 0) _exit(126);
    if (identity.switch_user) {
      if (setgroups(0, nullptr) != 0 || setgid(identity.gid) != 0 ||
          setuid(identity.uid) != 0) {
        _exit(125);
      }
    }
    // If the test binary dies without its destructors (a crash, SIGKILL),
    // the server shuts down at once (SIGQUIT: immediate shutdown) instead
    // of running on. Set after setuid, which clears it.
    if (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0) _exit(124);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

std::vector<std::string> ChildEnvironment() {
  return {"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC"};
}

// Servers' state for PostgresEnvironment.
std::unique_ptr<PostgresServer>& EnvironmentServer() {
  static auto* server = new std::unique_ptr<PostgresServer>();
  return *server;
}
absl::Status& EnvironmentStatus() {
  static auto* status = new absl::Status(
      absl::FailedPreconditionError("PostgresEnvironment was not registered"));
  return *status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    PostgresServerOptions options) {
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->options_ = options;
  server->bin_ = NewestPostgresBin();
  if (server->bin_.empty()) {
    return absl::NotFoundError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
        "(install Debian's postgresql package: scripts/install-deps.sh): "
        "skipping the PostgreSQL tests");
  }
  absl::StatusOr<Identity> identity = ChildIdentity();
  if (!identity.ok()) return identity.status();
  std::string dir_template = "/tmp/keygate-pg.XXXXXX";
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  server->dir_ = dir_template;
  if (identity->switch_user &&
      chown(server->dir_.c_str(), identity->uid, identity->gid) != 0) {
    return absl::InternalError("cannot chown the cluster directory to postgres");
  }
  const std::string initdb_log = server->dir_ + "/initdb.log";
  const pid_t initdb = Spawn(
      {server->bin_ + "/initdb", "-D", server->dir_ + "/data", "-U", "keygate",
       "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C",
       "--no-instructions"},
      ChildEnvironment(), initdb_log, server->dir_, *identity);
  int status = 0;
  if (initdb < 0 || waitpid(initdb, &status, 0) != initdb ||
      !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("initdb failed: ", ReadFile(initdb_log)));
  }
  // A port can be taken between FreePort and the bind: try a few.
  absl::Status launched;
  for (int attempt = 0; attempt < 3; ++attempt) {
    server->port_ = 0;
    launched = server->Launch();
    if (launched.ok()) return server;
  }
  return launched;
}

absl::Status PostgresServer::Launch() {
  absl::StatusOr<Identity> identity = ChildIdentity();
  if (!identity.ok()) return identity.status();
  if (port_ == 0) port_ = FreePort();
  if (port_ == 0) return absl::InternalError("no free port on 127.0.0.1");
  const std::string log = dir_ + "/postgres.log";
  pid_ = Spawn({bin_ + "/postgres", "-D", dir_ + "/data", "-p",
                std::to_string(port_), "-k", dir_, "-c",
                "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                options_.synchronous_commit ? "synchronous_commit=on"
                                            : "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=100"},
               ChildEnvironment(), log, dir_, *identity);
  if (pid_ < 0) return absl::InternalError("fork failed");
  const std::string conninfo = ConnInfo() + " connect_timeout=2";
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("postgres exited at start: ", ReadFile(log)));
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return absl::InternalError(
      absl::StrCat("postgres did not accept connections in 60 s: ",
                   ReadFile(log)));
}

absl::Status PostgresServer::Stop(StopMode mode) {
  if (pid_ <= 0) return absl::OkStatus();
  // SIGINT: fast shutdown (disconnects clients, checkpoints, stops);
  // SIGQUIT: immediate shutdown.
  kill(pid_, mode == StopMode::kFast ? SIGINT : SIGQUIT);
  bool exited = false;
  for (int i = 0; i < 1200 && !exited; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      exited = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  if (!exited) {
    return absl::InternalError("postgres did not stop in 60 s: killed");
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::Restart() {
  if (running()) {
    return absl::FailedPreconditionError("the server is running");
  }
  return Launch();  // port_ kept: the same port
}

bool PostgresServer::running() {
  if (pid_ <= 0) return false;
  if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

PostgresServer::~PostgresServer() {
  (void)Stop(StopMode::kFast);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PostgresServer::ConnInfo(const std::string& database) const {
  return absl::StrCat("host=127.0.0.1 port=", port_,
                      " user=keygate dbname=", database);
}

absl::StatusOr<std::string> PostgresServer::CreateSchema() {
  absl::StatusOr<std::unique_ptr<postgres::Connection>> admin =
      postgres::Connection::Open(ConnInfo());
  if (!admin.ok()) return admin.status();
  const std::string name = absl::StrCat("test_", ++schemas_);
  if (absl::Status created =
          (*admin)->ExecScript(absl::StrCat("CREATE SCHEMA ", name));
      !created.ok()) {
    return created;
  }
  return absl::StrCat(ConnInfo(), " options='-csearch_path=", name, "'");
}

void PostgresEnvironment::SetUp() {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server =
      PostgresServer::Start();
  if (server.ok()) {
    EnvironmentServer() = std::move(*server);
    EnvironmentStatus() = absl::OkStatus();
  } else {
    EnvironmentStatus() = server.status();
  }
}

void PostgresEnvironment::TearDown() { EnvironmentServer().reset(); }

PostgresServer* PostgresEnvironment::server() {
  return EnvironmentServer().get();
}

const absl::Status& PostgresEnvironment::status() {
  return EnvironmentStatus();
}

}  // namespace keygate::testing
