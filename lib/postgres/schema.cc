// lib/postgres/schema.cc: the versioned DDL and the migration runner.
#include "lib/postgres/schema.h"

#include <iterator>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace keygate::postgres {
namespace {

// kMigrations[i] takes a database from version i to version i + 1. Append
// new versions; never edit a released one (a database that ran it would
// not run the edit).
constexpr std::string_view kMigrations[] = {
    // Version 1: the tables of docs/storage-schema.md's column families
    // (docs/postgres-schema.md). Identity columns are bytea so that no byte
    // of an organization or slug is reinterpreted by an encoding or ordered
    // by a collation: order is byte order, as in RocksDB. Records are the
    // versioned encodings of lib/storage/records.h, byte for byte.
    R"sql(
CREATE TABLE keygate_meta (
  name text COLLATE "C" PRIMARY KEY,
  value bytea NOT NULL
);
CREATE TABLE keygate_accounts (
  organization bytea NOT NULL,
  slug bytea NOT NULL,
  record bytea NOT NULL,
  PRIMARY KEY (organization, slug)
);
CREATE TABLE keygate_tokens (
  organization bytea NOT NULL,
  service_account bytea NOT NULL,
  slug bytea NOT NULL,
  record bytea NOT NULL,
  PRIMARY KEY (organization, service_account, slug)
);
CREATE TABLE keygate_token_times (
  organization bytea NOT NULL,
  service_account bytea NOT NULL,
  created_at bigint NOT NULL,
  slug bytea NOT NULL
);
CREATE UNIQUE INDEX keygate_token_times_newest_first
  ON keygate_token_times (organization, service_account, created_at DESC, slug);
CREATE TABLE keygate_digests (
  digest bytea PRIMARY KEY CHECK (octet_length(digest) = 32),
  record bytea NOT NULL
);
CREATE TABLE keygate_last_used (
  last_used_key bytea PRIMARY KEY CHECK (octet_length(last_used_key) = 8),
  record bytea NOT NULL
);
CREATE TABLE keygate_webhooks (
  organization bytea NOT NULL,
  endpoint_id text COLLATE "C" NOT NULL,
  record bytea NOT NULL,
  PRIMARY KEY (organization, endpoint_id)
);
CREATE TABLE keygate_changes (
  position bigint PRIMARY KEY CHECK (position > 0),
  written_at bigint NOT NULL,
  record bytea NOT NULL
);
)sql",
    // Version 2: the store's keys and values, byte for byte as RocksDB holds
    // them, in one table (lib/postgres/postgres_database.h). Version 1's
    // per-family tables were never written by any keygate: they go, so
    // every datum has one home (docs/postgres-schema.md); the change log is
    // the `changes/` keys of family 0, as in RocksDB.
    // And fleet membership and leases (lib/postgres/fleet_lease.h,
    // docs/fleet-revocation.md). heard_at is the DATABASE clock's time of
    // the member's last renewing heartbeat ('-infinity' if it never
    // renewed); updated_at that of its last heartbeat of any kind (stale
    // rows are collected by it).
    R"sql(
DROP TABLE keygate_meta, keygate_accounts, keygate_tokens,
  keygate_token_times, keygate_digests, keygate_last_used, keygate_webhooks,
  keygate_changes;
CREATE TABLE keygate_kv (
  family smallint NOT NULL CHECK (family >= 0),
  key bytea NOT NULL,
  value bytea NOT NULL,
  PRIMARY KEY (family, key)
);
CREATE TABLE keygate_fleet_members (
  member_id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL DEFAULT '',
  applied_position bigint NOT NULL CHECK (applied_position >= 0),
  heard_at timestamptz NOT NULL,
  lease_micros bigint NOT NULL CHECK (lease_micros > 0),
  joined_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion,
              "one migration per schema version");

constexpr std::string_view kCreateVersionTable = R"sql(
CREATE TABLE IF NOT EXISTS keygate_schema (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version integer NOT NULL CHECK (version > 0)
))sql";

// VersionIn reads the version inside a transaction that holds the lock and
// has created keygate_schema.
absl::StatusOr<int> VersionIn(Transaction& transaction) {
  absl::StatusOr<Result> row =
      transaction.Exec("SELECT version FROM keygate_schema");
  if (!row.ok()) return row.status();
  if (row->rows() == 0) return 0;
  absl::StatusOr<int64_t> version = row->Int64(0, 0);
  if (!version.ok()) return version.status();
  return static_cast<int>(*version);
}

}  // namespace

absl::StatusOr<int> ReadSchemaVersion(Connection& connection) {
  absl::StatusOr<Result> exists = connection.Exec(
      "SELECT to_regclass('keygate_schema') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (exists->Value(0, 0) != "t") return 0;
  absl::StatusOr<Result> row =
      connection.Exec("SELECT version FROM keygate_schema");
  if (!row.ok()) return row.status();
  if (row->rows() == 0) return 0;
  absl::StatusOr<int64_t> version = row->Int64(0, 0);
  if (!version.ok()) return version.status();
  return static_cast<int>(*version);
}

absl::Status EnsureSchema(Connection& connection) {
  absl::StatusOr<Transaction> transaction = Transaction::Begin(connection);
  if (!transaction.ok()) return transaction.status();
  const std::string lock_key = std::to_string(kSchemaLockKey);
  if (absl::StatusOr<Result> locked =
          transaction->Exec("SELECT pg_advisory_xact_lock($1::bigint)",
                            {Param::Text(lock_key)});
      !locked.ok()) {
    return locked.status();
  }
  if (absl::Status created = transaction->connection().ExecScript(
          kCreateVersionTable);
      !created.ok()) {
    return created;
  }
  absl::StatusOr<int> version = VersionIn(*transaction);
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    // The destructor rolls back: nothing changed.
    return absl::FailedPreconditionError(absl::StrCat(
        "the PostgreSQL database has keygate schema version ", *version,
        "; this keygate knows versions up to ", kSchemaVersion,
        " (upgrade keygate)"));
  }
  if (*version == kSchemaVersion) return transaction->Commit();
  for (int from = *version; from < kSchemaVersion; ++from) {
    if (absl::Status migrated =
            transaction->connection().ExecScript(kMigrations[from]);
        !migrated.ok()) {
      return absl::Status(
          migrated.code(),
          absl::StrCat("keygate schema migration to version ", from + 1,
                       " failed: ", migrated.message()));
    }
  }
  const std::string new_version = std::to_string(kSchemaVersion);
  absl::StatusOr<Result> stored = transaction->Exec(
      "INSERT INTO keygate_schema (singleton, version) VALUES (true, $1::int) "
      "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
      {Param::Text(new_version)});
  if (!stored.ok()) return stored.status();
  return transaction->Commit();
}

}  // namespace keygate::postgres
