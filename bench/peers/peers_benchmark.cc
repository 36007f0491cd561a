// bench/peers/peers_benchmark.cc: keygate's verify beside what a user would
// build instead, on the same tokens, in one run (bench/peers/run.sh starts the
// servers and prints the ratios; BENCHMARKS.md, "Peers").
//
//   BM_PeerKeygateVerify                Store::Verify of a live token with a
//                                       required scope (in process, memory).
//   BM_PeerRedisSha256Get               SHA-256 of the token, GET of its hex
//                                       digest from Redis over loopback TCP.
//   BM_PeerPostgresSha256Select         SHA-256 of the token, an indexed
//                                       SELECT by digest (prepared, binary
//                                       parameter) from PostgreSQL over
//                                       loopback TCP; revoked/expiry checked.
//   BM_PeerReferenceSha256SelectBcrypt  the reference product's scheme: the
//                                       same SELECT, then a bcrypt (cost 10,
//                                       libcrypt) compare of the token with
//                                       the row's bcrypt hash.
//
// Every benchmark verifies live tokens (hits) in a random order and fails
// (SkipWithError) on any miss, so a broken peer cannot look fast. Times are
// wall-clock (UseRealTime): a network peer's cost is mostly waiting.
//
// Environment (set by run.sh): KEYGATE_PEERS_TOKENS (default 10000),
// KEYGATE_PEERS_REDIS_PORT, KEYGATE_PEERS_PG_CONNINFO. A benchmark whose
// server is not configured is skipped with a message.
#include <crypt.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/peers/redis_connection.h"
#include "benchmark/benchmark.h"
#include "keygate/keygate.h"

namespace keygate::bench {
namespace {

constexpr int kTokensPerAccount = 100;
constexpr int kBcryptCost = 10;
// bcrypt cost 10 takes tens of milliseconds per hash: only this many rows
// carry one, and the reference benchmark verifies those.
constexpr int kBcryptTokens = 8;
constexpr char kScope[] = "read:tokens";

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int parsed = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &parsed) || parsed <= 0) {
    return fallback;
  }
  return parsed;
}

std::string Sha256(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

// Tokens is one keygate store filled with live tokens, whose values the
// peers load as digests. Built once per process.
struct Tokens {
  std::filesystem::path dir;
  std::unique_ptr<Store> store;
  std::vector<std::string> values;  // benchmark-only tokens of a temp store
  std::vector<std::string> accounts;
  std::string error;

  ~Tokens() {
    if (store) (void)store->Close();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

// BuildTokens fills `t`; on failure leaves the reason in t->error.
void BuildTokens(Tokens* t) {
  const int n = EnvInt("KEYGATE_PEERS_TOKENS", 10000);
  t->dir = std::filesystem::temp_directory_path() /
           absl::StrCat("keygate-peers-", ::getpid());
  std::filesystem::create_directories(t->dir);
  const std::string pepper = (t->dir / "pepper").string();
  if (absl::Status s = Keyring::CreateFile(pepper); !s.ok()) {
    t->error = s.ToString();
    return;
  }
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
      Keyring::Load(pepper);
  if (!keyring.ok()) {
    t->error = keyring.status().ToString();
    return;
  }
  Options options;
  options.path = (t->dir / "store").string();
  options.keyring = *keyring;
  options.sync_writes = false;  // loading speed only; verify never syncs
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  if (!store.ok()) {
    t->error = store.status().ToString();
    return;
  }
  t->store = *std::move(store);
  for (int i = 0; i < n; ++i) {
    if (i % kTokensPerAccount == 0) {
      ServiceAccountSpec account{.name = absl::StrCat("peer ", i),
                                 .slug = absl::StrCat("peer-", i)};
      absl::StatusOr<ServiceAccount> created =
          t->store->CreateServiceAccount("acme", account, "bench");
      if (!created.ok()) {
        t->error = created.status().ToString();
        return;
      }
      t->accounts.push_back(created->slug);
    }
    TokenSpec spec{.name = absl::StrCat("token ", i), .scopes = {kScope}};
    absl::StatusOr<CreatedToken> token =
        t->store->CreateToken("acme", t->accounts.back(), spec, "bench");
    if (!token.ok()) {
      t->error = token.status().ToString();
      return;
    }
    t->values.emplace_back(token->value.view());
  }
}

// The shared fixtures live until main() ends the run and drops them, before
// static destruction (RocksDB's own statics must still be alive at Close).
std::unique_ptr<Tokens> shared_tokens;

Tokens& SharedTokens() {
  if (!shared_tokens) {
    shared_tokens = std::make_unique<Tokens>();
    BuildTokens(shared_tokens.get());
  }
  return *shared_tokens;
}

// RandomOrder returns indexes [0, n) shuffled with a fixed seed.
std::vector<size_t> RandomOrder(size_t n) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  return order;
}

std::string MetadataJson(size_t i) {
  return absl::StrCat(R"({"organization":"acme","serviceAccount":"peer-)",
                      i / kTokensPerAccount * kTokensPerAccount,
                      R"(","scopes":["read:tokens"],"revokedAt":null,)",
                      R"("expiresAt":null})");
}

void BM_PeerKeygateVerify(benchmark::State& state) {
  Tokens& tokens = SharedTokens();
  if (!tokens.error.empty()) {
    state.SkipWithError(tokens.error.c_str());
    return;
  }
  const std::vector<size_t> order = RandomOrder(tokens.values.size());
  size_t next = 0;
  for (auto _ : state) {
    absl::StatusOr<Principal> who =
        tokens.store->Verify(tokens.values[order[next]], kScope);
    if (!who.ok()) {
      state.SkipWithError("keygate refused a live token");
      return;
    }
    benchmark::DoNotOptimize(who);
    if (++next == order.size()) next = 0;
  }
  state.counters["tokens"] = static_cast<double>(tokens.values.size());
}
BENCHMARK(BM_PeerKeygateVerify)->UseRealTime();

void BM_PeerRedisSha256Get(benchmark::State& state) {
  Tokens& tokens = SharedTokens();
  const int port = EnvInt("KEYGATE_PEERS_REDIS_PORT", 0);
  if (!tokens.error.empty() || port == 0) {
    state.SkipWithError(port == 0 ? "KEYGATE_PEERS_REDIS_PORT is not set"
                                  : tokens.error.c_str());
    return;
  }
  absl::StatusOr<RedisConnection> redis = RedisConnection::Connect(port);
  if (!redis.ok()) {
    state.SkipWithError(redis.status().ToString().c_str());
    return;
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(tokens.values.size());
  for (size_t i = 0; i < tokens.values.size(); ++i) {
    pairs.emplace_back(absl::BytesToHexString(Sha256(tokens.values[i])),
                       MetadataJson(i));
  }
  if (absl::Status s = redis->SetAll(pairs); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  const std::vector<size_t> order = RandomOrder(tokens.values.size());
  size_t next = 0;
  for (auto _ : state) {
    const std::string key =
        absl::BytesToHexString(Sha256(tokens.values[order[next]]));
    absl::StatusOr<std::optional<std::string>> value = redis->Get(key);
    if (!value.ok() || !value->has_value()) {
      state.SkipWithError("redis missed a live token");
      return;
    }
    benchmark::DoNotOptimize(value);
    if (++next == order.size()) next = 0;
  }
  state.counters["tokens"] = static_cast<double>(tokens.values.size());
}
BENCHMARK(BM_PeerRedisSha256Get)->UseRealTime();

bool Exec(PGconn* conn, const char* sql, std::string* error) {
  PGresult* result = PQexec(conn, sql);
  const ExecStatusType status = PQresultStatus(result);
  const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  if (!ok) *error = absl::StrCat(sql, ": ", PQerrorMessage(conn));
  PQclear(result);
  return ok;
}

// Postgres is one libpq connection with the peer table loaded and the
// lookup statement prepared. Built once per process.
struct Postgres {
  PGconn* conn = nullptr;
  std::vector<std::string> bcrypt_hashes;  // of tokens [0, kBcryptTokens)
  std::string error;

  ~Postgres() {
    if (conn != nullptr) {
      std::string ignored;
      Exec(conn, "DROP TABLE IF EXISTS keygate_peer_tokens", &ignored);
      PQfinish(conn);
    }
  }
};

std::string BcryptHash(std::string_view token, std::string* error) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", kBcryptCost, nullptr, 0, salt, sizeof salt) ==
      nullptr) {
    *error = "crypt_gensalt_rn failed";
    return "";
  }
  crypt_data data{};
  const std::string key(token);
  const char* hash = crypt_rn(key.c_str(), salt, &data, sizeof data);
  if (hash == nullptr || hash[0] == '*') {
    *error = "bcrypt failed";
    return "";
  }
  return hash;
}

// BuildPostgres connects, loads the peer table and prepares the lookup;
// on failure leaves the reason in p->error.
void BuildPostgres(const Tokens& tokens, Postgres* p) {
  const char* conninfo = std::getenv("KEYGATE_PEERS_PG_CONNINFO");
  if (conninfo == nullptr) {
    p->error = "KEYGATE_PEERS_PG_CONNINFO is not set";
    return;
  }
  p->conn = PQconnectdb(conninfo);
  if (PQstatus(p->conn) != CONNECTION_OK) {
    p->error = PQerrorMessage(p->conn);
    return;
  }
  // The setup's DROP IF EXISTS notices are not results.
  PQsetNoticeProcessor(
      p->conn, [](void*, const char*) {}, nullptr);
  if (!Exec(p->conn,
            "DROP TABLE IF EXISTS keygate_peer_tokens; "
            "CREATE TABLE keygate_peer_tokens ("
            " lookup bytea PRIMARY KEY, organization text NOT NULL,"
            " service_account text NOT NULL, scopes text[] NOT NULL,"
            " bcrypt_hash text, revoked_at timestamptz,"
            " expires_at timestamptz)",
            &p->error)) {
    return;
  }
  for (int i = 0;
       i < kBcryptTokens && i < static_cast<int>(tokens.values.size()); ++i) {
    p->bcrypt_hashes.push_back(BcryptHash(tokens.values[i], &p->error));
    if (!p->error.empty()) return;
  }
  // Load with COPY (text format: bytea as \x hex).
  PGresult* copy = PQexec(p->conn,
                          "COPY keygate_peer_tokens (lookup, organization, "
                          "service_account, scopes, bcrypt_hash) FROM STDIN");
  if (PQresultStatus(copy) != PGRES_COPY_IN) {
    p->error = PQerrorMessage(p->conn);
    PQclear(copy);
    return;
  }
  PQclear(copy);
  std::string rows;
  for (size_t i = 0; i < tokens.values.size(); ++i) {
    absl::StrAppend(
        &rows, "\\\\x", absl::BytesToHexString(Sha256(tokens.values[i])),
        "\tacme\tpeer-", i / kTokensPerAccount * kTokensPerAccount,
        "\t{read:tokens}\t",
        i < p->bcrypt_hashes.size() ? p->bcrypt_hashes[i] : "\\N", "\n");
  }
  if (PQputCopyData(p->conn, rows.data(), static_cast<int>(rows.size())) != 1 ||
      PQputCopyEnd(p->conn, nullptr) != 1) {
    p->error = PQerrorMessage(p->conn);
    return;
  }
  PGresult* done = PQgetResult(p->conn);
  if (PQresultStatus(done) != PGRES_COMMAND_OK) {
    p->error = PQerrorMessage(p->conn);
  }
  PQclear(done);
  while (PGresult* r = PQgetResult(p->conn)) PQclear(r);
  if (!p->error.empty()) return;
  if (!Exec(p->conn, "ANALYZE keygate_peer_tokens", &p->error)) return;
  PGresult* prepared = PQprepare(
      p->conn, "lookup",
      "SELECT organization, service_account, scopes, bcrypt_hash,"
      " revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
      " FROM keygate_peer_tokens WHERE lookup = $1",
      1, nullptr);
  if (PQresultStatus(prepared) != PGRES_COMMAND_OK) {
    p->error = PQerrorMessage(p->conn);
  }
  PQclear(prepared);
}

std::unique_ptr<Postgres> shared_postgres;

Postgres& SharedPostgres(const Tokens& tokens) {
  if (!shared_postgres) {
    shared_postgres = std::make_unique<Postgres>();
    BuildPostgres(tokens, shared_postgres.get());
  }
  return *shared_postgres;
}

// LookUp runs the prepared SELECT for `token`; returns the result (the
// caller clears it) or nullptr if the row is missing or not active.
PGresult* LookUp(PGconn* conn, std::string_view token) {
  const std::string digest = Sha256(token);
  const char* values[1] = {digest.data()};
  const int lengths[1] = {static_cast<int>(digest.size())};
  const int formats[1] = {1};
  PGresult* result =
      PQexecPrepared(conn, "lookup", 1, values, lengths, formats, 0);
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1 ||
      PQgetvalue(result, 0, 4)[0] != 't') {
    PQclear(result);
    return nullptr;
  }
  return result;
}

void BM_PeerPostgresSha256Select(benchmark::State& state) {
  Tokens& tokens = SharedTokens();
  if (!tokens.error.empty()) {
    state.SkipWithError(tokens.error.c_str());
    return;
  }
  Postgres& pg = SharedPostgres(tokens);
  if (!pg.error.empty()) {
    state.SkipWithError(pg.error.c_str());
    return;
  }
  const std::vector<size_t> order = RandomOrder(tokens.values.size());
  size_t next = 0;
  for (auto _ : state) {
    PGresult* row = LookUp(pg.conn, tokens.values[order[next]]);
    if (row == nullptr) {
      state.SkipWithError("postgres missed a live token");
      return;
    }
    PQclear(row);
    if (++next == order.size()) next = 0;
  }
  state.counters["tokens"] = static_cast<double>(tokens.values.size());
}
BENCHMARK(BM_PeerPostgresSha256Select)->UseRealTime();

void BM_PeerReferenceSha256SelectBcrypt(benchmark::State& state) {
  Tokens& tokens = SharedTokens();
  if (!tokens.error.empty()) {
    state.SkipWithError(tokens.error.c_str());
    return;
  }
  Postgres& pg = SharedPostgres(tokens);
  if (!pg.error.empty() || pg.bcrypt_hashes.empty()) {
    state.SkipWithError(pg.error.empty() ? "no bcrypt rows" : pg.error.c_str());
    return;
  }
  crypt_data data{};
  size_t next = 0;
  for (auto _ : state) {
    const std::string& token = tokens.values[next];
    PGresult* row = LookUp(pg.conn, token);
    if (row == nullptr || PQgetisnull(row, 0, 3)) {
      if (row != nullptr) PQclear(row);
      state.SkipWithError("postgres missed a live token");
      return;
    }
    const std::string stored = PQgetvalue(row, 0, 3);
    PQclear(row);
    const char* computed =
        crypt_rn(token.c_str(), stored.c_str(), &data, sizeof data);
    if (computed == nullptr || std::strlen(computed) != stored.size() ||
        CRYPTO_memcmp(computed, stored.data(), stored.size()) != 0) {
      state.SkipWithError("bcrypt compare failed for a live token");
      return;
    }
    if (++next == pg.bcrypt_hashes.size()) next = 0;
  }
  state.counters["tokens"] = static_cast<double>(tokens.values.size());
}
BENCHMARK(BM_PeerReferenceSha256SelectBcrypt)->UseRealTime();

}  // namespace
}  // namespace keygate::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  keygate::bench::shared_postgres.reset();
  keygate::bench::shared_tokens.reset();
  return 0;
}
