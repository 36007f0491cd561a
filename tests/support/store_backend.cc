// tests/support/store_backend.cc: the store suites' backend choice.
#include "tests/support/store_backend.h"

#include <stdlib.h>

#include <string_view>

#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"

namespace keygate::test {

bool PostgresBackendSelected() {
  const char* backend = getenv("KEYGATE_TEST_BACKEND");
  return backend != nullptr && std::string_view(backend) == "postgres";
}

namespace {

// One server per binary, started before the first test (only when the
// PostgreSQL backend is selected) and stopped after the last.
::testing::Environment* const kPostgres =
    PostgresBackendSelected()
        ? ::testing::AddGlobalTestEnvironment(
              new ::keygate::testing::PostgresEnvironment)
        : nullptr;

}  // namespace

absl::StatusOr<std::string> FreshPostgresStore() {
  ::keygate::testing::PostgresServer* server =
      ::keygate::testing::PostgresEnvironment::server();
  if (server == nullptr) {
    const absl::Status& status =
        ::keygate::testing::PostgresEnvironment::status();
    if (!status.ok()) return status;
    return absl::FailedPreconditionError(
        "the PostgreSQL test server was not started (KEYGATE_TEST_BACKEND "
        "is not postgres)");
  }
  return server->CreateSchema();
}

}  // namespace keygate::test
