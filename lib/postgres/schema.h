// lib/postgres/schema.h: keygate's PostgreSQL schema, created and migrated
// by the library when a store opens (docs/postgres-schema.md).
//
// The schema version lives in `keygate_schema` (one row). EnsureSchema runs
// every migration from the database's version up to kSchemaVersion in ONE
// transaction, under a transaction-level advisory lock (kSchemaLockKey), so
// two processes opening the same database at once are safe: the second
// waits for the first, then finds the schema current. The lock is taken
// before any DDL because concurrent `CREATE TABLE IF NOT EXISTS` of the same
// name can fail (a unique violation in the catalog) instead of waiting.
// A database at a newer version than this keygate knows is refused and left
// untouched.
#ifndef KEYGATE_LIB_POSTGRES_SCHEMA_H_
#define KEYGATE_LIB_POSTGRES_SCHEMA_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/postgres/connection.h"

namespace keygate::postgres {

// kSchemaVersion is the schema version this keygate writes and reads.
inline constexpr int kSchemaVersion = 2;

// kSchemaLockKey is the pg_advisory_xact_lock key serializing schema
// migrations ("kgschema" in ASCII). Other advisory keys of keygate live in
// the files that use them (lib/postgres/postgres_database.h).
inline constexpr int64_t kSchemaLockKey = 0x6b67736368656d61;

// EnsureSchema creates the schema in an empty database or migrates an older
// one to kSchemaVersion, in one transaction (all or nothing). OK when the
// database is at kSchemaVersion afterwards (also when it already was: then
// nothing is written). FailedPrecondition, changing nothing, if the database
// is at a newer version; the connection's status otherwise. REQUIRES: no
// transaction open on `connection`.
absl::Status EnsureSchema(Connection& connection);

// ReadSchemaVersion returns the database's schema version, 0 if keygate's
// schema was never created there.
absl::StatusOr<int> ReadSchemaVersion(Connection& connection);

}  // namespace keygate::postgres

#endif  // KEYGATE_LIB_POSTGRES_SCHEMA_H_
