// tests/support/store_backend.h: which backend the store test suites run
// on (tests/store_test_util.h's fixture).
//
// KEYGATE_TEST_BACKEND=postgres selects PostgreSQL: the binary then starts
// one throwaway server (tests/support/postgres_server.h) for all its tests,
// and every test gets a fresh schema of its own. Anything else (unset
// included) selects RocksDB. CMakeLists.txt registers every store_*_test
// binary twice: `<test>.<case>` on RocksDB and `<test>.postgres` on
// PostgreSQL.
#ifndef KEYGATE_TESTS_SUPPORT_STORE_BACKEND_H_
#define KEYGATE_TESTS_SUPPORT_STORE_BACKEND_H_

#include <string>

#include "absl/status/statusor.h"

namespace keygate::test {

// PostgresBackendSelected reports whether KEYGATE_TEST_BACKEND=postgres.
bool PostgresBackendSelected();

// FreshPostgresStore returns the connection string of a fresh, empty schema
// on the binary's server. NotFound if the PostgreSQL binaries are absent
// (skip the test); another error if the server did not start.
absl::StatusOr<std::string> FreshPostgresStore();

}  // namespace keygate::test

#endif  // KEYGATE_TESTS_SUPPORT_STORE_BACKEND_H_
