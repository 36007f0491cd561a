// tests/support/postgres_server.h: a throwaway PostgreSQL server for tests.
//
// PostgresServer runs Debian's postgresql binaries (/usr/lib/postgresql/*/bin,
// the newest) on 127.0.0.1 and a free port, with its cluster and socket in a
// fresh temporary directory, trust authentication, and fsync off (tests need
// no durability). The destructor stops it by its PID (fast shutdown, then
// SIGKILL after 60 s) and removes the directory: nothing is left running or
// on disk. Should the test binary die without running destructors, the
// server gets SIGQUIT (PR_SET_PDEATHSIG) and stops at once (only its
// directory under /tmp is then left). The children inherit no descriptor of
// the test binary but stdin/stdout/stderr (a listening socket or a pipe
// held open by a server would outlive the test's use of it). PostgreSQL
// refuses to run as root: as root, initdb and postgres
// run as the `postgres` system user (created by the package), the directory
// chowned to it; as anyone else, as themselves. Children only make system
// calls between fork and execve (argv/envp are built before fork), so they
// are safe under ASan.
//
// PostgresEnvironment is a GoogleTest environment that starts one server for
// a whole test binary (initdb costs seconds): register it with
//   ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);
// and begin each test with KEYGATE_REQUIRE_POSTGRES(), which skips the test
// (with a message) only when the PostgreSQL binaries are absent, and fails
// it when they are present but the server did not start.
#ifndef KEYGATE_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define KEYGATE_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace keygate::testing {

// PostgresServerOptions configures a PostgresServer.
struct PostgresServerOptions {
  // The server's default synchronous_commit. Off, a commit returns before
  // its WAL reaches even the OS, so an immediate stop (StopMode::
  // kImmediate) may lose the last few hundred milliseconds of commits; on,
  // it survives any stop of the server (fsync stays off: not a machine
  // crash). Outage tests that stop the server turn it on.
  // Default: false.
  bool synchronous_commit = false;
};

// StopMode is how PostgresServer::Stop shuts the server down (PostgreSQL's
// own shutdown modes, "pg_ctl stop -m fast / immediate").
enum class StopMode {
  // SIGINT: the server ends every session (clients see their connection
  // closed), checkpoints and exits cleanly.
  kFast,
  // SIGQUIT: every server process exits at once, no checkpoint; the next
  // start runs crash recovery. The closest to a crashed database server.
  kImmediate,
};

class PostgresServer {
 public:
  // Start creates a cluster and starts the server, waiting until it accepts
  // connections (at most 60 s). NotFound if the PostgreSQL binaries are not
  // installed; Internal, with the server's log, if it did not start.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(
      PostgresServerOptions options = {});

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  // Stops the server and removes its directory.
  ~PostgresServer();

  // ConnInfo is a libpq connection string for `database` as the superuser
  // `keygate`.
  std::string ConnInfo(const std::string& database = "postgres") const;
  // CreateSchema creates a fresh, empty schema in the database `postgres`
  // and returns a connection string whose search_path is that schema alone
  // (every test takes its own, so tests do not share tables or rows; a
  // schema costs milliseconds where CREATE DATABASE costs a second).
  // Advisory locks and NOTIFY channels are per database: tests of one
  // binary run one at a time, so they do not meet.
  absl::StatusOr<std::string> CreateSchema();

  // Stop shuts the server down in `mode` and waits until its postmaster
  // has exited (at most 60 s, then SIGKILL); the cluster directory and the
  // port stay, for Restart. OK if it was already stopped; Internal if the
  // postmaster had to be killed.
  absl::Status Stop(StopMode mode);
  // Restart starts the server again on the same cluster directory and the
  // SAME port (so existing connection strings reach it again), waiting
  // until it accepts connections (at most 60 s; after an immediate stop
  // that includes crash recovery). FailedPrecondition if it is running;
  // Internal, with the log, if it did not start (for instance the port was
  // taken meanwhile). Call it from the thread that called Start: the
  // server's PR_SET_PDEATHSIG fires when the thread that forked it ends.
  absl::Status Restart();
  // running says whether the postmaster is alive (reaping it if it
  // exited by itself).
  bool running();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  PostgresServer() = default;
  // Launch starts the postmaster on port_ (a free one first if port_ is 0)
  // and waits until it accepts connections.
  absl::Status Launch();

  PostgresServerOptions options_;
  std::string dir_;
  std::string bin_;
  int port_ = 0;
  pid_t pid_ = -1;
  int schemas_ = 0;
};

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;

  // server is the binary's server; null if it did not start (status() says
  // why).
  static PostgresServer* server();
  static const absl::Status& status();
};

}  // namespace keygate::testing

// KEYGATE_REQUIRE_POSTGRES skips the current test when PostgreSQL is not
// installed and fails it when the server could not start.
#define KEYGATE_REQUIRE_POSTGRES()                                          \
  do {                                                                      \
    if (::keygate::testing::PostgresEnvironment::server() == nullptr) {     \
      if (::absl::IsNotFound(                                               \
              ::keygate::testing::PostgresEnvironment::status())) {         \
        GTEST_SKIP() << ::keygate::testing::PostgresEnvironment::status()   \
                            .message();                                     \
      }                                                                     \
      FAIL() << "PostgreSQL test server did not start: "                    \
             << ::keygate::testing::PostgresEnvironment::status();          \
    }                                                                       \
  } while (0)

#endif  // KEYGATE_TESTS_SUPPORT_POSTGRES_SERVER_H_
