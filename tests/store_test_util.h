// tests/store_test_util.h: shared fixture and helpers for the Store tests.
//
// Every test gets a fresh temporary directory (removed afterwards), a fixed
// test keyring, a ManualClock and an open Store. Header-only. The store is
// RocksDB in the directory, or with KEYGATE_TEST_BACKEND=postgres a fresh
// PostgreSQL schema (tests/support/store_backend.h): DefaultOptions() then
// sets Options::postgres_connection, and tests that are inherently RocksDB
// skip themselves with SKIP_IF_POSTGRES(reason).
//
// Token values are secrets even in tests: helpers here never print them, and
// tests must not pass them to gtest's value printers (EXPECT_EQ on a value
// would print it on failure); print an index instead.
#ifndef KEYGATE_TESTS_STORE_TEST_UTIL_H_
#define KEYGATE_TESTS_STORE_TEST_UTIL_H_

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/support/store_backend.h"

// KG_ASSERT_OK asserts that an absl::Status or absl::StatusOr is OK.
#define KG_ASSERT_OK(expr)                                               \
  do {                                                                   \
    const ::absl::Status kg_status_ = ::keygate::test::StatusOf((expr)); \
    ASSERT_TRUE(kg_status_.ok()) << #expr << ": " << kg_status_;         \
  } while (false)

// KG_EXPECT_OK expects that an absl::Status or absl::StatusOr is OK.
#define KG_EXPECT_OK(expr)                                               \
  do {                                                                   \
    const ::absl::Status kg_status_ = ::keygate::test::StatusOf((expr)); \
    EXPECT_TRUE(kg_status_.ok()) << #expr << ": " << kg_status_;         \
  } while (false)

#define KG_CONCAT_INNER_(a, b) a##b
#define KG_CONCAT_(a, b) KG_CONCAT_INNER_(a, b)

// KG_ASSERT_OK_AND_ASSIGN(lhs, expr) evaluates the StatusOr `expr`, asserts
// it is OK and moves its value into `lhs` (which may be a declaration).
#define KG_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  KG_ASSERT_OK_AND_ASSIGN_IMPL_(KG_CONCAT_(kg_statusor_, __LINE__), lhs, expr)
#define KG_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)          \
  auto statusor = (expr);                                           \
  ASSERT_TRUE(statusor.ok()) << #expr << ": " << statusor.status(); \
  lhs = std::move(statusor).value()

// SKIP_IF_POSTGRES skips the current test on the PostgreSQL backend, with
// `reason` (what makes it RocksDB-only).
#define SKIP_IF_POSTGRES(reason)                                  \
  do {                                                            \
    if (::keygate::test::PostgresBackendSelected()) {             \
      GTEST_SKIP() << "RocksDB only: " << (reason);               \
    }                                                             \
  } while (false)

namespace keygate::test {

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Fixed test peppers (never used outside tests).
inline constexpr std::string_view kPepperHex1 =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
inline constexpr std::string_view kPepperHex2 =
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
// A different pepper under the same id as kPepperHex1.
inline constexpr std::string_view kOtherPepperHex1 =
    "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// KeyringText returns pepper-file text for (id, hex) pairs.
inline std::string KeyringText(
    const std::vector<std::pair<int, std::string_view>>& peppers) {
  std::string text;
  for (const auto& [id, hex] : peppers) {
    text += std::to_string(id);
    text += ' ';
    text += hex;
    text += '\n';
  }
  return text;
}

// ParseKeyringOrDie parses pepper-file text; aborts the test binary if the
// keyring cannot be parsed (a broken fixture makes every test meaningless).
inline std::shared_ptr<const Keyring> ParseKeyringOrDie(
    const std::vector<std::pair<int, std::string_view>>& peppers) {
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
      Keyring::Parse(KeyringText(peppers));
  if (!keyring.ok() || *keyring == nullptr) {
    ADD_FAILURE() << "Keyring::Parse failed: " << keyring.status();
    std::abort();
  }
  return *std::move(keyring);
}

// ManualClock is a Clock tests move by hand. Thread-safe.
class ManualClock : public Clock {
 public:
  // A fixed, round start time (2027-01-15T08:00:00Z) so results are stable.
  static absl::Time DefaultStart() { return absl::FromUnixSeconds(1800000000); }

  explicit ManualClock(absl::Time start = DefaultStart()) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// ScopedTempDir creates a fresh directory and removes it (recursively) on
// destruction.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string base = ::testing::TempDir();
    if (base.empty()) base = "/tmp/";
    if (base.back() != '/') base += '/';
    std::string templ = base + "keygate_store_test_XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << templ;
      std::abort();
    }
    path_ = buf.data();
  }
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  // Sub returns path()/name (not created).
  std::string Sub(std::string_view name) const {
    return path_ + "/" + std::string(name);
  }

 private:
  std::string path_;
};

// FieldNames returns the `field` of every FieldError carried by `status`.
inline std::vector<std::string> FieldNames(const absl::Status& status) {
  std::vector<std::string> names;
  for (const FieldError& e : FieldErrorsOf(status)) names.push_back(e.field);
  return names;
}

// HasFieldError reports whether `status` carries a FieldError for `field`.
inline bool HasFieldError(const absl::Status& status, std::string_view field) {
  for (const FieldError& e : FieldErrorsOf(status)) {
    if (e.field == field) return true;
  }
  return false;
}

// DescribeFieldErrors renders the field errors of `status` for failure
// messages (fields and messages only; values may be huge).
inline std::string DescribeFieldErrors(const absl::Status& status) {
  std::string out = "[";
  for (const FieldError& e : FieldErrorsOf(status)) {
    out += e.field + ": " + e.message + "; ";
  }
  return out + "]";
}

// IsValidUtf8 reports whether `s` is well-formed UTF-8 (no overlongs,
// surrogates, or code points past U+10FFFF).
inline bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
        (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// HasControlChars reports whether `s` contains a C0 control byte or DEL.
inline bool HasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7F;
  });
}

// IsValidSlug reports whether `s` matches ^[a-z0-9][a-z0-9-]*[a-z0-9]$ and
// is 2-100 chars long.
inline bool IsValidSlug(std::string_view s) {
  if (s.size() < 2 || s.size() > 100) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-'; });
}

// StoreTest is the base fixture: a temp dir, the test keyring {1:
// kPepperHex1}, a ManualClock, and `store_` opened with DefaultOptions().
class StoreTest : public ::testing::Test {
 protected:
  static constexpr std::string_view kOrg = "org-test";
  static constexpr std::string_view kActor = "user:alice";

  void SetUp() override {
    keyring_ = ParseKeyringOrDie({{1, kPepperHex1}});
    if (PostgresBackendSelected()) {
      absl::StatusOr<std::string> conninfo = FreshPostgresStore();
      if (absl::IsNotFound(conninfo.status())) {
        GTEST_SKIP() << conninfo.status().message();
      }
      ASSERT_TRUE(conninfo.ok()) << conninfo.status();
      postgres_connection_ = *std::move(conninfo);
    }
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(DefaultOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    if (store_ != nullptr) {
      absl::Status status = store_->Close();
      EXPECT_TRUE(status.ok()) << status;
      store_.reset();
    }
  }

  // SyncWrites tells whether the fixture's default options sync the WAL.
  // Persistence tests override it to return true.
  virtual bool SyncWrites() const { return false; }

  // DefaultOptions returns options for the fixture's store directory: the
  // fixture keyring and clock, sync_writes = SyncWrites().
  Options DefaultOptions() const {
    Options options;
    options.path = StorePath();
    options.keyring = keyring_;
    options.sync_writes = SyncWrites();
    options.clock = &clock_;
    options.postgres_connection = postgres_connection_;
    return options;
  }

  // on_postgres tells whether the fixture's store is on PostgreSQL.
  bool on_postgres() const { return !postgres_connection_.empty(); }

  // StorePath is the store directory (a child of the temp dir, so tests can
  // create sibling directories).
  std::string StorePath() const { return dir_.Sub("store"); }

  // Reopen closes `store_` and opens it again with `options`.
  absl::Status Reopen(Options options) {
    if (store_ != nullptr) {
      absl::Status status = store_->Close();
      if (!status.ok()) return status;
      store_.reset();
    }
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(std::move(options));
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    return absl::OkStatus();
  }
  absl::Status Reopen() { return Reopen(DefaultOptions()); }

  // CreateAccount creates an account with `slug` (name derived from it).
  absl::StatusOr<ServiceAccount> CreateAccount(std::string_view slug,
                                               std::string_view org = kOrg) {
    ServiceAccountSpec spec;
    spec.name = "Account " + std::string(slug);
    spec.slug = std::string(slug);
    return store_->CreateServiceAccount(org, spec, kActor);
  }

  // CreateToken creates a token named `name` with `scopes` on `account`.
  absl::StatusOr<CreatedToken> CreateToken(
      std::string_view account, std::string_view name,
      std::vector<std::string> scopes = {"read:tokens"},
      std::optional<std::string> slug = std::nullopt,
      std::optional<absl::Time> expires_at = std::nullopt,
      std::string_view org = kOrg) {
    TokenSpec spec;
    spec.name = std::string(name);
    spec.slug = std::move(slug);
    spec.scopes = std::move(scopes);
    spec.expires_at = expires_at;
    return store_->CreateToken(org, account, spec, kActor);
  }

  // AllAccounts lists every account of `org` (all pages).
  absl::StatusOr<std::vector<ServiceAccount>> AllAccounts(
      std::string_view org = kOrg, size_t page_size = 100) {
    std::vector<ServiceAccount> all;
    PageRequest page;
    page.limit = page_size;
    for (int guard = 0; guard < 100000; ++guard) {
      absl::StatusOr<Page<ServiceAccount>> p =
          store_->ListServiceAccounts(org, page);
      if (!p.ok()) return p.status();
      for (auto& a : p->items) all.push_back(std::move(a));
      if (p->next_cursor.empty()) return all;
      page.cursor = p->next_cursor;
    }
    return absl::InternalError("pagination did not terminate");
  }

  // AllTokens lists every token of `account` in `org` (all pages).
  absl::StatusOr<std::vector<TokenMetadata>> AllTokens(
      std::string_view account, std::string_view org = kOrg,
      size_t page_size = 100) {
    std::vector<TokenMetadata> all;
    PageRequest page;
    page.limit = page_size;
    for (int guard = 0; guard < 100000; ++guard) {
      absl::StatusOr<Page<TokenMetadata>> p =
          store_->ListTokens(org, account, page);
      if (!p.ok()) return p.status();
      for (auto& t : p->items) all.push_back(std::move(t));
      if (p->next_cursor.empty()) return all;
      page.cursor = p->next_cursor;
    }
    return absl::InternalError("pagination did not terminate");
  }

  ScopedTempDir dir_;
  // The fixture's PostgreSQL schema (empty: RocksDB at StorePath()).
  std::string postgres_connection_;
  ManualClock clock_;
  std::shared_ptr<const Keyring> keyring_;
  std::unique_ptr<Store> store_;
};

}  // namespace keygate::test

#endif  // KEYGATE_TESTS_STORE_TEST_UTIL_H_
