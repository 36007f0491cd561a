// tests/storage_format_v1_test.cc: storage format v1 is frozen.
//
// Every key kind and record kind is encoded here and compared with fixed
// bytes in tests/testdata/storage_format_v1.txt, and the fixed bytes are
// decoded back; a store written by keygate before the store was split is
// loaded record by record and must open and serve; and a store written by
// this code must hold the very records that one held (token digests aside,
// which depend on the random token values). Any accidental format change
// fails here.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/base/absl_view.h"
#include "lib/crypto/token_digester.h"
#include "lib/storage/change_record.h"
#include "lib/storage/keys.h"
#include "lib/storage/records.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

namespace fs = std::filesystem;

// ----------------------------------------------------------------- golden

struct Entry {
  std::string family;
  std::string key;
  std::string value;
  bool operator<(const Entry& o) const {
    return std::tie(family, key, value) < std::tie(o.family, o.key, o.value);
  }
  bool operator==(const Entry& o) const {
    return family == o.family && key == o.key && value == o.value;
  }
};

struct Golden {
  std::map<std::string, std::string> encodings;      // name -> bytes
  std::vector<std::pair<std::string, std::string>> tokens;  // slug, value
  std::vector<Entry> entries;
};

std::string Hex(std::string_view bytes) {
  const std::string hex = absl::BytesToHexString(AbslView(bytes));
  return std::string(hex.data(), hex.size());
}

std::string Unhex(std::string_view hex) {
  const std::string bytes = absl::HexStringToBytes(AbslView(hex));
  return std::string(bytes.data(), bytes.size());
}

Golden LoadGolden() {
  Golden golden;
  std::ifstream in(std::string(KEYGATE_TESTDATA_DIR) +
                   "/storage_format_v1.txt");
  EXPECT_TRUE(in.good()) << "cannot read tests/testdata/storage_format_v1.txt";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind, a, b, c;
    fields >> kind >> a >> b;
    if (kind == "encoding") {
      EXPECT_TRUE(golden.encodings.emplace(a, Unhex(b)).second) << a;
    } else if (kind == "store-token") {
      golden.tokens.emplace_back(a, b);
    } else if (kind == "store-entry") {
      fields >> c;
      golden.entries.push_back({a, Unhex(b), c == "-" ? "" : Unhex(c)});
    } else {
      ADD_FAILURE() << "unknown line: " << line;
    }
  }
  return golden;
}

// ---------------------------------------------------------------- fixtures

absl::Time Micros(int64_t us) { return absl::FromUnixMicros(us); }
constexpr int64_t kTimeA = 1700000000000001;
constexpr int64_t kTimeB = 1700000500000002;
constexpr int64_t kTimeC = 1800000000000000;
constexpr int64_t kTimeD = 1800000500000000;
constexpr int64_t kTimeE = 1800086400000000;

Digest FixtureDigest() {
  Digest digest;
  for (size_t i = 0; i < digest.size(); ++i) {
    digest[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  return digest;
}

ServiceAccount FixtureAccount(bool disabled) {
  ServiceAccount account;
  account.name = "Billing bot \xc3\xa9";
  account.disabled = disabled;
  account.created_at = Micros(kTimeA);
  account.created_by = "alice@example.com";
  account.updated_at = Micros(kTimeB);
  account.updated_by = "bob";
  return account;
}

storage::StoredToken FixtureToken(std::vector<std::string> scopes, bool expires,
                                  bool revoked) {
  storage::StoredToken token;
  token.digest = FixtureDigest();
  TokenMetadata& m = token.metadata;
  m.pepper_id = 3;
  m.name = "ci deploy";
  m.scopes = std::move(scopes);
  m.created_at = Micros(kTimeC);
  m.created_by = "carol";
  if (expires) m.expires_at = Micros(kTimeE);
  if (revoked) {
    m.revoked_at = Micros(kTimeD);
    m.revoked_by = "dave";
  }
  return token;
}

std::map<std::string, storage::StoredToken> FixtureTokens() {
  return {
      {"record.token.plain", FixtureToken({"read:*"}, false, false)},
      {"record.token.expiring",
       FixtureToken({"delete:service_accounts", "read:*", "write:tokens"},
                    true, false)},
      {"record.token.revoked", FixtureToken({"read:*"}, false, true)},
      {"record.token.expiring_revoked", FixtureToken({}, true, true)},
  };
}

std::string TimeBytes(absl::Time t) {
  std::string out;
  const uint64_t v = storage::EncodeTime(t);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
  return out;
}

std::map<std::string, std::string> ComputedEncodings() {
  std::map<std::string, std::string> e;
  e["time.epoch"] = TimeBytes(absl::UnixEpoch());
  e["time.before_epoch"] = TimeBytes(Micros(-1));
  e["time.a"] = TimeBytes(Micros(kTimeA));
  e["key.schema_version"] = std::string(storage::kSchemaVersionKey);
  e["key.pepper_fingerprint.1"] = storage::PepperFingerprintKey(1);
  e["key.pepper_fingerprint.61"] = storage::PepperFingerprintKey(61);
  e["key.account"] = storage::AccountKey("org-1", "deploy-bot");
  e["key.account.long_organization"] =
      storage::AccountKey(std::string(200, 'o'), "svc");
  e["key.account_prefix"] = storage::AccountPrefix("org-1");
  e["key.organization_prefix"] = storage::OrganizationPrefix("org-1");
  e["key.token"] = storage::TokenKey("org-1", "deploy-bot", "ci-token");
  e["key.token_prefix"] = storage::TokenPrefix("org-1", "deploy-bot");
  e["key.token_time"] =
      storage::TokenTimeKey("org-1", "deploy-bot", Micros(kTimeA), "ci-token");
  e["key.token_time_suffix"] =
      storage::TokenTimeSuffix(Micros(kTimeA), "ci-token");
  e["key.digest"] = std::string(DigestBytes(FixtureDigest()));
  e["value.schema_version"] = std::string(storage::kSchemaVersion);

  std::shared_ptr<const Keyring> keyring =
      test::ParseKeyringOrDie({{1, test::kPepperHex1}});
  absl::StatusOr<std::unique_ptr<crypto::TokenDigester>> digester =
      crypto::TokenDigester::Create(keyring);
  EXPECT_TRUE(digester.ok()) << digester.status();
  if (digester.ok()) {
    e["value.pepper_fingerprint.test_pepper_1"] =
        std::string(DigestBytes((*digester)->Fingerprint(1)));
    Digest digest{};
    EXPECT_TRUE(
        (*digester)->Compute(1, "kg_example-token-for-the-format-test", &digest));
    e["value.token_digest.test_pepper_1"] = std::string(DigestBytes(digest));
  }

  e["record.account.enabled"] = storage::EncodeAccount(FixtureAccount(false));
  e["record.account.disabled"] = storage::EncodeAccount(FixtureAccount(true));
  for (const auto& [name, token] : FixtureTokens()) {
    e[name] = storage::EncodeToken(token);
  }
  e["record.digest"] = storage::EncodeDigestRecord(
      storage::TokenKey("org-1", "deploy-bot", "ci-token"));
  return e;
}

// ------------------------------------------------------- reference store

constexpr const char* kFamilies[] = {"default", "accounts", "tokens",
                                     "token_times", "digests"};

// WriteReferenceStore runs the reference operations (the same ones that
// wrote the golden store) on a new store at `path` and returns the created
// tokens' slugs and values in creation order.
std::vector<std::pair<std::string, std::string>> WriteReferenceStore(
    const std::string& path) {
  std::vector<std::pair<std::string, std::string>> tokens;
  test::ManualClock clock(Micros(1800000000123456));
  Options options;
  options.path = path;
  options.clock = &clock;
  options.keyring = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(options);
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return tokens;
  std::unique_ptr<Store> store = *std::move(opened);
  auto create_token = [&](std::string_view account, std::string name,
                          std::optional<std::string> slug,
                          std::vector<std::string> scopes,
                          std::optional<absl::Time> expires_at,
                          std::string_view actor) {
    TokenSpec spec;
    spec.name = std::move(name);
    spec.slug = std::move(slug);
    spec.scopes = std::move(scopes);
    spec.expires_at = expires_at;
    absl::StatusOr<CreatedToken> created =
        store->CreateToken("org-1", account, spec, actor);
    EXPECT_TRUE(created.ok()) << created.status();
    if (created.ok()) {
      tokens.emplace_back(created->metadata.slug,
                          std::string(created->value.view()));
    }
  };

  ServiceAccountSpec a1;
  a1.name = "Deploy bot \xc3\xa9";
  a1.slug = "deploy-bot";
  EXPECT_TRUE(store->CreateServiceAccount("org-1", a1, "user:alice").ok());
  clock.Advance(absl::Seconds(1) + absl::Microseconds(7));
  ServiceAccountSpec a2;
  a2.name = "Old bot";
  a2.slug = "old-bot";
  EXPECT_TRUE(store->CreateServiceAccount("org-1", a2, "user:alice").ok());
  clock.Advance(absl::Seconds(1));
  create_token("deploy-bot", "ci", "ci-token",
               {"write:tokens", "read:service_accounts"}, std::nullopt,
               "user:alice");
  clock.Advance(absl::Seconds(1));
  create_token("deploy-bot", "nightly build", std::nullopt, {"read:*"},
               clock.Now() + absl::Hours(24 * 90), "user:bob");
  clock.Advance(absl::Seconds(1));
  create_token("old-bot", "legacy", "legacy", {"delete:tokens"}, std::nullopt,
               "user:alice");
  EXPECT_TRUE(store->Close().ok());
  store.reset();

  options.keyring = test::ParseKeyringOrDie(
      {{1, test::kPepperHex1}, {2, test::kPepperHex2}});
  opened = Store::Open(options);
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return tokens;
  store = *std::move(opened);
  clock.Advance(absl::Seconds(1));
  create_token("deploy-bot", "rotated", "rotated", {"read:tokens"},
               std::nullopt, "user:alice");
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(
      store->RevokeToken("org-1", "deploy-bot", "ci-token", "user:carol").ok());
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(
      store->SetServiceAccountDisabled("org-1", "old-bot", true, "user:carol")
          .ok());
  clock.Advance(absl::Seconds(1));
  ServiceAccountSpec a3;
  a3.name = "Other org bot";
  a3.slug = "deploy-bot";
  EXPECT_TRUE(store->CreateServiceAccount("org-2", a3, "user:zed").ok());
  EXPECT_TRUE(store->Close().ok());
  return tokens;
}

// DumpStore reads every record of the store at `path` with RocksDB directly.
std::vector<Entry> DumpStore(const std::string& path) {
  std::vector<Entry> entries;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kFamilies) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path,
                                                   families, &handles, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return entries;
  for (size_t i = 0; i < handles.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      entries.push_back(
          {kFamilies[i], it->key().ToString(), it->value().ToString()});
    }
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    (void)db->DestroyColumnFamilyHandle(handle);
  }
  delete db;
  return entries;
}

// LoadStore writes `entries` into a new RocksDB database at `path` with the
// five families, as the old keygate left them.
void LoadStore(const std::string& path, const std::vector<Entry>& entries) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kFamilies) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, families, &handles, &db);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const Entry& e : entries) {
    const auto* family = std::find_if(
        std::begin(kFamilies), std::end(kFamilies),
        [&](const char* name) { return e.family == name; });
    ASSERT_NE(family, std::end(kFamilies)) << e.family;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(),
                        handles[family - std::begin(kFamilies)], e.key,
                        e.value)
                    .ok());
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

// WithoutDigests replaces what depends on the random token values: the
// digest inside each token record, and each digests-family key (after
// checking it is the digest of the token its record names).
std::vector<Entry> WithoutDigests(std::vector<Entry> entries) {
  std::map<std::string, std::string> digest_of_token_key;
  for (const Entry& e : entries) {
    if (e.family != "tokens") continue;
    EXPECT_GE(e.value.size(), 1 + kDigestSize);
    digest_of_token_key[e.key] = e.value.substr(1, kDigestSize);
  }
  for (Entry& e : entries) {
    if (e.family == "tokens" && e.value.size() >= 1 + kDigestSize) {
      e.value.replace(1, kDigestSize, std::string(kDigestSize, '\0'));
    } else if (e.family == "digests") {
      std::string_view token_key;
      EXPECT_TRUE(storage::DecodeDigestRecord(e.value, &token_key).ok());
      EXPECT_EQ(Hex(e.key), Hex(digest_of_token_key[std::string(token_key)]))
          << "the digests key is not the digest of token " << Hex(token_key);
      e.key = "digest of " + std::string(token_key);
    }
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

class StorageFormatV1Test : public ::testing::Test {
 protected:
  void SetUp() override { golden_ = LoadGolden(); }
  test::ScopedTempDir dir_;
  Golden golden_;
};

// ------------------------------------------------------------------ tests

TEST_F(StorageFormatV1Test, EveryKeyAndRecordKindEncodesToTheFrozenBytes) {
  const std::map<std::string, std::string> computed = ComputedEncodings();
  for (const auto& [name, bytes] : computed) {
    auto it = golden_.encodings.find(name);
    if (it == golden_.encodings.end()) {
      ADD_FAILURE() << "no frozen bytes for " << name << ": " << Hex(bytes);
      continue;
    }
    EXPECT_EQ(Hex(bytes), Hex(it->second)) << name;
  }
  for (const auto& [name, bytes] : golden_.encodings) {
    EXPECT_TRUE(computed.contains(name)) << "frozen " << name << " not checked";
  }
}

TEST_F(StorageFormatV1Test, FrozenRecordsDecodeToTheirFields) {
  for (bool disabled : {false, true}) {
    const std::string name =
        disabled ? "record.account.disabled" : "record.account.enabled";
    ServiceAccount account;
    ASSERT_TRUE(
        storage::DecodeAccount(golden_.encodings[name], &account).ok());
    const ServiceAccount want = FixtureAccount(disabled);
    EXPECT_EQ(account.name, want.name) << name;
    EXPECT_EQ(account.disabled, want.disabled) << name;
    EXPECT_EQ(account.created_at, want.created_at) << name;
    EXPECT_EQ(account.created_by, want.created_by) << name;
    EXPECT_EQ(account.updated_at, want.updated_at) << name;
    EXPECT_EQ(account.updated_by, want.updated_by) << name;
  }
  for (const auto& [name, want] : FixtureTokens()) {
    storage::StoredToken token;
    ASSERT_TRUE(storage::DecodeToken(golden_.encodings[name], &token).ok())
        << name;
    EXPECT_EQ(token.digest, want.digest) << name;
    EXPECT_EQ(token.metadata.pepper_id, want.metadata.pepper_id) << name;
    EXPECT_EQ(token.metadata.name, want.metadata.name) << name;
    EXPECT_EQ(token.metadata.scopes, want.metadata.scopes) << name;
    EXPECT_EQ(token.metadata.created_at, want.metadata.created_at) << name;
    EXPECT_EQ(token.metadata.created_by, want.metadata.created_by) << name;
    EXPECT_EQ(token.metadata.expires_at, want.metadata.expires_at) << name;
    EXPECT_EQ(token.metadata.revoked_at, want.metadata.revoked_at) << name;
    EXPECT_EQ(token.metadata.revoked_by, want.metadata.revoked_by) << name;
  }
  std::string_view token_key;
  ASSERT_TRUE(storage::DecodeDigestRecord(golden_.encodings["record.digest"],
                                          &token_key)
                  .ok());
  EXPECT_EQ(Hex(token_key), Hex(golden_.encodings["key.token"]));
  std::string_view org, account, slug;
  ASSERT_TRUE(storage::DecodeTokenKey(golden_.encodings["key.token"], &org,
                                      &account, &slug));
  EXPECT_EQ(org, "org-1");
  EXPECT_EQ(account, "deploy-bot");
  EXPECT_EQ(slug, "ci-token");
  ASSERT_TRUE(storage::DecodeAccountKey(
      golden_.encodings["key.account.long_organization"], &org, &slug));
  EXPECT_EQ(org, std::string(200, 'o'));
  EXPECT_EQ(slug, "svc");
}

TEST_F(StorageFormatV1Test, NewStoreHasTheFiveFamilies) {
  {
    Options options;
    options.path = dir_.Sub("store");
    options.keyring = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Close().ok());
  }
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(),
                                              dir_.Sub("store"), &names)
                  .ok());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"accounts", "default", "digests",
                                             "token_times", "tokens"}));
}

// A store the old code wrote opens, and answers exactly as it would have.
TEST_F(StorageFormatV1Test, StoreWrittenBeforeTheSplitOpensAndServes) {
  ASSERT_EQ(golden_.tokens.size(), 4u);
  ASSERT_FALSE(golden_.entries.empty());
  const std::string path = dir_.Sub("old-store");
  LoadStore(path, golden_.entries);
  if (HasFatalFailure()) return;

  test::ManualClock clock(Micros(1800000000123456) + absl::Seconds(10));
  Options options;
  options.path = path;
  options.clock = &clock;
  options.keyring = test::ParseKeyringOrDie(
      {{1, test::kPepperHex1}, {2, test::kPepperHex2}});
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, Store::Open(options));

  std::map<std::string, std::string> value;
  for (const auto& [slug, v] : golden_.tokens) value[slug] = v;
  KG_ASSERT_OK_AND_ASSIGN(Principal rotated, store->Verify(value["rotated"]));
  EXPECT_EQ(rotated.organization(), "org-1");
  EXPECT_EQ(rotated.service_account(), "deploy-bot");
  EXPECT_EQ(rotated.token_slug(), "rotated");
  EXPECT_EQ(rotated.scopes(), std::vector<std::string>{"read:tokens"});
  KG_ASSERT_OK_AND_ASSIGN(Principal nightly,
                          store->Verify(value["nightly-build"], "read:tokens"));
  EXPECT_EQ(nightly.expires_at(),
            Micros(1800000000123456) + absl::Seconds(3) +
                absl::Microseconds(7) + absl::Hours(24 * 90));
  EXPECT_EQ(VerifyFailureOf(store->Verify(value["ci-token"]).status()),
            VerifyFailure::kRevoked);
  EXPECT_EQ(VerifyFailureOf(store->Verify(value["legacy"]).status()),
            VerifyFailure::kAccountDisabled);

  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount old_bot,
                          store->GetServiceAccount("org-1", "old-bot"));
  EXPECT_TRUE(old_bot.disabled);
  EXPECT_EQ(old_bot.updated_by, "user:carol");
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount deploy,
                          store->GetServiceAccount("org-1", "deploy-bot"));
  EXPECT_EQ(deploy.name, "Deploy bot \xc3\xa9");
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount other,
                          store->GetServiceAccount("org-2", "deploy-bot"));
  EXPECT_EQ(other.name, "Other org bot");

  KG_ASSERT_OK_AND_ASSIGN(Page<TokenMetadata> listed,
                          store->ListTokens("org-1", "deploy-bot", {}));
  std::vector<std::string> slugs;
  for (const TokenMetadata& m : listed.items) slugs.push_back(m.slug);
  EXPECT_EQ(slugs, (std::vector<std::string>{"rotated", "nightly-build",
                                             "ci-token"}));
  ASSERT_EQ(listed.items.size(), 3u);
  EXPECT_EQ(listed.items[2].revoked_by, "user:carol");
  EXPECT_EQ(listed.items[2].scopes,
            (std::vector<std::string>{"read:service_accounts", "write:tokens"}));
  EXPECT_EQ(listed.items[0].pepper_id, 2);
  EXPECT_EQ(listed.items[1].pepper_id, 1);

  // The new code writes into it as into its own, and revokes what it finds.
  KG_ASSERT_OK(store->RevokeToken("org-1", "deploy-bot", "rotated", "user:x"));
  EXPECT_EQ(VerifyFailureOf(store->Verify(value["rotated"]).status()),
            VerifyFailure::kRevoked);
  // Names stay unique against the old records; a taken slug is refused.
  TokenSpec spec;
  spec.name = "nightly build";
  spec.scopes = {"read:tokens"};
  EXPECT_EQ(store->CreateToken("org-1", "deploy-bot", spec, "user:x")
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  spec.name = "fresh";
  spec.slug = "ci-token";
  EXPECT_EQ(store->CreateToken("org-1", "deploy-bot", spec, "user:x")
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  KG_ASSERT_OK(store->Close());

  // The old store's pepper records bind it to its peppers.
  options.keyring = test::ParseKeyringOrDie({{1, test::kOtherPepperHex1},
                                             {2, test::kPepperHex2}});
  EXPECT_EQ(Store::Open(options).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// What this code writes for the reference operations is, record for
// record, what the old code wrote (the random token digests aside).
TEST_F(StorageFormatV1Test, StoreWritesTheFrozenRecords) {
  const std::string path = dir_.Sub("new-store");
  const std::vector<std::pair<std::string, std::string>> tokens =
      WriteReferenceStore(path);
  ASSERT_EQ(tokens.size(), golden_.tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ(tokens[i].first, golden_.tokens[i].first) << i;
  }
  // The change log (docs/storage-schema.md, "Change log") is an addition
  // to format v1, like last_used/: its records are checked to decode, then
  // left out of the comparison with the frozen store.
  std::vector<Entry> dumped = DumpStore(path);
  size_t change_records = 0;
  for (auto it = dumped.begin(); it != dumped.end();) {
    if (it->family == "default" &&
        it->key.rfind(storage::kChangePrefix, 0) == 0) {
      storage::ChangeRecord change;
      EXPECT_TRUE(storage::DecodeChange(it->value, &change).ok());
      ++change_records;
      it = dumped.erase(it);
    } else {
      ++it;
    }
  }
  EXPECT_GT(change_records, 0u);
  const std::vector<Entry> written = WithoutDigests(std::move(dumped));
  const std::vector<Entry> frozen = WithoutDigests(golden_.entries);
  ASSERT_EQ(written.size(), frozen.size());
  for (size_t i = 0; i < written.size(); ++i) {
    EXPECT_EQ(written[i].family, frozen[i].family) << i;
    EXPECT_EQ(Hex(written[i].key), Hex(frozen[i].key)) << written[i].family;
    EXPECT_EQ(Hex(written[i].value), Hex(frozen[i].value))
        << written[i].family << " " << Hex(written[i].key);
  }

  // The digests this code stored are the digests of the values it returned.
  std::shared_ptr<const Keyring> keyring = test::ParseKeyringOrDie(
      {{1, test::kPepperHex1}, {2, test::kPepperHex2}});
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::TokenDigester> digester,
                          crypto::TokenDigester::Create(keyring));
  std::set<std::string> stored_digests;
  for (const Entry& e : DumpStore(path)) {
    if (e.family == "digests") stored_digests.insert(e.key);
  }
  for (const auto& [slug, value] : tokens) {
    const int pepper_id = slug == "rotated" ? 2 : 1;
    Digest digest{};
    ASSERT_TRUE(digester->Compute(pepper_id, value, &digest));
    EXPECT_TRUE(stored_digests.contains(std::string(DigestBytes(digest))))
        << slug;
  }
}

}  // namespace
}  // namespace keygate
