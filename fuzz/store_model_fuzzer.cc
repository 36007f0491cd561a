// fuzz/store_model_fuzzer.cc: a stateful fuzzer that drives the Store API
// with operation sequences from the fuzzer against a std::map model, in the
// manner of RocksDB's db_map_fuzzer, and aborts on any divergence.
//
// Operations: create/disable/enable/delete a service account, create and
// revoke tokens (some expiring), verify every token ever issued (and a
// one-character-off copy), list tokens and accounts through every page with
// small limits, advance a ManualClock, PurgeRetired, and close and reopen the
// store midway. Two organizations share the store.
//
// Invariants checked after every operation:
//   - each call's status is the one the model predicts where the contract
//     states it (NotFound for an absent account or token, AlreadyExists for
//     a taken slug, FailedPrecondition for a token on a disabled account,
//     OK otherwise);
//   - Verify succeeds exactly for tokens that exist, are not revoked or
//     expired, and whose account exists and is enabled, and then names the
//     right organization, account and slug; every failure is
//     Unauthenticated; a token one character off never verifies;
//   - listing through all pages gives the model's tokens/accounts exactly
//     once each, with matching revoked state; pages never repeat an item;
//   - PurgeRetired removes exactly the tokens the model retires (revoked or
//     expired at or before now - retention) and nothing else;
//   - the store reopens after Close with the same state.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/memory_file_system.h"
#include "keygate/keygate.h"
#include "lib/store/open_on_file_system.h"

namespace {

using keygate::fuzz::FuzzCheck;
using keygate::fuzz::FuzzInput;

// Each input opens a store (in memory: fuzz/memory_file_system.h); short
// sequences keep executions per second up.
constexpr size_t kMaxInputSize = 1024;
constexpr int kMaxOperations = 64;
constexpr absl::Duration kRetention = absl::Hours(1);

constexpr std::string_view kOrgs[] = {"acme", "globex"};
constexpr std::string_view kAccounts[] = {"sa-a", "sa-b", "sa-c"};
constexpr std::string_view kTokenSlugs[] = {"t0", "t1", "t2", "t3"};

using AccountId = std::pair<std::string, std::string>;  // org, account
using TokenId = std::tuple<std::string, std::string, std::string>;

struct ModelAccount {
  bool disabled = false;
};

struct ModelToken {
  std::string value;  // fuzzing-only secret, never printed
  std::optional<absl::Time> expires_at;
  std::optional<absl::Time> revoked_at;
};

struct Model {
  std::map<AccountId, ModelAccount> accounts;
  std::map<TokenId, ModelToken> tokens;
  // Every value ever issued, with its token id, so purged, deleted and
  // replaced tokens keep being checked.
  std::vector<std::pair<TokenId, std::string>> issued;
};

class Harness {
 public:
  Harness() : clock_(absl::FromUnixSeconds(1796083200)) {
    FuzzCheck(!dir_.path().empty(), "temp dir");
    Open();
  }
  ~Harness() {
    if (store_) FuzzCheck(store_->Close().ok(), "final close");
  }

  void Run(FuzzInput& input) {
    for (int i = 0; i < kMaxOperations && !input.empty(); ++i) {
      const std::string org(kOrgs[input.ConsumeByte() % std::size(kOrgs)]);
      const std::string account(
          kAccounts[input.ConsumeByte() % std::size(kAccounts)]);
      switch (input.ConsumeByte() % 12) {
        case 0: CreateAccount(org, account); break;
        case 1: SetDisabled(org, account, input.ConsumeBool()); break;
        case 2: DeleteAccount(org, account); break;
        case 3:
        case 4: CreateToken(org, account, input); break;
        case 5: RevokeToken(org, account, input); break;
        case 6: ListTokens(org, account, input.ConsumeInRange(1, 4)); break;
        case 7: ListAccounts(org, input.ConsumeInRange(1, 4)); break;
        case 8: clock_.Advance(absl::Minutes(input.ConsumeInRange(1, 150))); break;
        case 9: Purge(); break;
        case 10: Reopen(); break;
        default: break;
      }
      VerifyAll();
    }
  }

 private:
  void Open() {
    keygate::Options options;
    options.path = dir_.path() + "/store";
    options.keyring = keygate::fuzz::FuzzKeyring();
    options.sync_writes = false;  // reopen is a clean Close, not a crash
    options.clock = &clock_;
    options.retention = kRetention;
    // The same in-memory file system every time, so Reopen finds the store
    // Close left.
    auto store =
        keygate::store::internal::OpenStoreOnFileSystem(options, file_system_);
    FuzzCheck(store.ok(), "store opens");
    store_ = *std::move(store);
  }

  void Reopen() {
    FuzzCheck(store_->Close().ok(), "store closes");
    store_.reset();
    Open();
  }

  bool AccountExists(const std::string& org, const std::string& account) {
    return model_.accounts.count({org, account}) > 0;
  }

  void CreateAccount(const std::string& org, const std::string& account) {
    keygate::ServiceAccountSpec spec{"Account " + account, account};
    auto created = store_->CreateServiceAccount(org, spec, "fuzzer");
    if (AccountExists(org, account)) {
      FuzzCheck(absl::IsAlreadyExists(created.status()),
                "taken account slug is AlreadyExists");
      return;
    }
    FuzzCheck(created.ok(), "account created");
    FuzzCheck(created->slug == account && created->organization == org &&
                  !created->disabled,
              "created account as asked");
    model_.accounts[{org, account}] = ModelAccount{};
  }

  void SetDisabled(const std::string& org, const std::string& account,
                   bool disabled) {
    auto updated =
        store_->SetServiceAccountDisabled(org, account, disabled, "fuzzer");
    if (!AccountExists(org, account)) {
      FuzzCheck(absl::IsNotFound(updated.status()), "absent account NotFound");
      return;
    }
    FuzzCheck(updated.ok(), "account (dis/en)abled");
    FuzzCheck(updated->disabled == disabled, "disabled flag as asked");
    model_.accounts[{org, account}].disabled = disabled;
  }

  void DeleteAccount(const std::string& org, const std::string& account) {
    const absl::Status status =
        store_->DeleteServiceAccount(org, account, "fuzzer");
    if (!AccountExists(org, account)) {
      FuzzCheck(absl::IsNotFound(status), "absent account NotFound");
      return;
    }
    FuzzCheck(status.ok(), "account deleted");
    model_.accounts.erase({org, account});
    for (auto it = model_.tokens.begin(); it != model_.tokens.end();) {
      if (std::get<0>(it->first) == org && std::get<1>(it->first) == account) {
        it = model_.tokens.erase(it);
      } else {
        ++it;
      }
    }
  }

  void CreateToken(const std::string& org, const std::string& account,
                   FuzzInput& input) {
    const std::string slug(
        kTokenSlugs[input.ConsumeByte() % std::size(kTokenSlugs)]);
    keygate::TokenSpec spec;
    spec.name = "Token " + slug;
    spec.slug = slug;
    spec.scopes = {input.ConsumeBool() ? "read:tokens" : "write:*"};
    const uint8_t expiry = input.ConsumeByte();
    if (expiry % 2 == 1) {
      spec.expires_at = clock_.Now() + absl::Minutes(1 + expiry / 2);
    }
    auto created = store_->CreateToken(org, account, spec, "fuzzer");
    const TokenId id{org, account, slug};
    if (!AccountExists(org, account)) {
      FuzzCheck(absl::IsNotFound(created.status()), "absent account NotFound");
      return;
    }
    // A disabled account gets no tokens (FailedPrecondition), checked
    // before the slug.
    if (model_.accounts[{org, account}].disabled) {
      FuzzCheck(absl::IsFailedPrecondition(created.status()),
                "disabled account refuses tokens");
      return;
    }
    if (model_.tokens.count(id)) {
      FuzzCheck(absl::IsAlreadyExists(created.status()),
                "taken token slug is AlreadyExists");
      return;
    }
    FuzzCheck(created.ok(), "token created");
    const keygate::TokenMetadata& m = created->metadata;
    FuzzCheck(m.organization == org && m.service_account == account &&
                  m.slug == slug && !m.revoked() &&
                  m.expires_at == spec.expires_at,
              "created token as asked");
    std::string value(created->value.view());
    FuzzCheck(value.starts_with(store_->token_prefix()), "token prefix");
    model_.tokens[id] = ModelToken{value, spec.expires_at, std::nullopt};
    model_.issued.emplace_back(id, std::move(value));
  }

  void RevokeToken(const std::string& org, const std::string& account,
                   FuzzInput& input) {
    const std::string slug(
        kTokenSlugs[input.ConsumeByte() % std::size(kTokenSlugs)]);
    const absl::Status status =
        store_->RevokeToken(org, account, slug, "fuzzer");
    auto it = model_.tokens.find({org, account, slug});
    if (it == model_.tokens.end() || it->second.revoked_at) {
      FuzzCheck(absl::IsNotFound(status),
                "unknown or revoked token revoke is NotFound");
      return;
    }
    FuzzCheck(status.ok(), "token revoked");
    it->second.revoked_at = clock_.Now();
  }

  void ListTokens(const std::string& org, const std::string& account,
                  int limit) {
    keygate::PageRequest page;
    page.limit = static_cast<size_t>(limit);
    std::map<std::string, bool> seen;  // slug -> revoked
    for (int pages = 0; pages < 64; ++pages) {
      auto listed = store_->ListTokens(org, account, page);
      if (!AccountExists(org, account)) {
        FuzzCheck(absl::IsNotFound(listed.status()) ||
                      (listed.ok() && listed->items.empty()),
                  "absent account lists nothing");
        return;
      }
      FuzzCheck(listed.ok(), "tokens listed");
      FuzzCheck(listed->items.size() <= page.limit, "page within limit");
      for (const keygate::TokenMetadata& m : listed->items) {
        FuzzCheck(m.organization == org && m.service_account == account,
                  "listed token is the account's");
        FuzzCheck(seen.emplace(m.slug, m.revoked()).second,
                  "no token listed twice");
      }
      if (listed->next_cursor.empty()) break;
      page.cursor = listed->next_cursor;
    }
    std::map<std::string, bool> expected;
    for (const auto& [id, token] : model_.tokens) {
      if (std::get<0>(id) == org && std::get<1>(id) == account) {
        expected.emplace(std::get<2>(id), token.revoked_at.has_value());
      }
    }
    FuzzCheck(seen == expected, "listed tokens match the model");
  }

  void ListAccounts(const std::string& org, int limit) {
    keygate::PageRequest page;
    page.limit = static_cast<size_t>(limit);
    std::map<std::string, bool> seen;  // slug -> disabled
    for (int pages = 0; pages < 64; ++pages) {
      auto listed = store_->ListServiceAccounts(org, page);
      FuzzCheck(listed.ok(), "accounts listed");
      FuzzCheck(listed->items.size() <= page.limit, "page within limit");
      for (const keygate::ServiceAccount& a : listed->items) {
        FuzzCheck(a.organization == org, "listed account is the org's");
        FuzzCheck(seen.emplace(a.slug, a.disabled).second,
                  "no account listed twice");
      }
      if (listed->next_cursor.empty()) break;
      page.cursor = listed->next_cursor;
    }
    std::map<std::string, bool> expected;
    for (const auto& [id, account] : model_.accounts) {
      if (id.first == org) expected.emplace(id.second, account.disabled);
    }
    FuzzCheck(seen == expected, "listed accounts match the model");
  }

  void Purge() {
    const absl::Time cutoff = clock_.Now() - kRetention;
    uint64_t expected = 0;
    for (auto it = model_.tokens.begin(); it != model_.tokens.end();) {
      const ModelToken& t = it->second;
      const bool retired =
          (t.revoked_at && *t.revoked_at <= cutoff) ||
          (!t.revoked_at && t.expires_at && *t.expires_at <= cutoff);
      if (retired) {
        ++expected;
        it = model_.tokens.erase(it);
      } else {
        ++it;
      }
    }
    auto purged = store_->PurgeRetired();
    FuzzCheck(purged.ok(), "purge succeeds");
    FuzzCheck(purged->tokens_purged == expected,
              "purge removes exactly the retired tokens");
  }

  void VerifyAll() {
    const absl::Time now = clock_.Now();
    for (const auto& [id, value] : model_.issued) {
      auto it = model_.tokens.find(id);
      const bool current = it != model_.tokens.end() && it->second.value == value;
      bool should_verify = false;
      if (current) {
        const ModelToken& t = it->second;
        auto account = model_.accounts.find({std::get<0>(id), std::get<1>(id)});
        should_verify = !t.revoked_at && (!t.expires_at || *t.expires_at > now) &&
                        account != model_.accounts.end() &&
                        !account->second.disabled;
      }
      auto principal = store_->Verify(value);
      if (should_verify) {
        FuzzCheck(principal.ok(), "live token verifies");
        FuzzCheck(principal->organization() == std::get<0>(id) &&
                      principal->service_account() == std::get<1>(id) &&
                      principal->token_slug() == std::get<2>(id),
                  "principal names the token");
      } else {
        FuzzCheck(!principal.ok(), "dead token never verifies");
        FuzzCheck(absl::IsUnauthenticated(principal.status()),
                  "verify failure is Unauthenticated");
        // The verify index and the revoked set agree with storage: a stored
        // revoked token is found revoked, a deleted one is unknown.
        const keygate::VerifyFailure failure =
            keygate::VerifyFailureOf(principal.status());
        if (current && it->second.revoked_at) {
          FuzzCheck(failure == keygate::VerifyFailure::kRevoked,
                    "a stored revoked token fails as revoked");
        }
        if (!current) {
          FuzzCheck(failure == keygate::VerifyFailure::kUnknown,
                    "a deleted token fails as unknown");
        }
      }
      // One character off (last body char before the checksum region or
      // anywhere) never verifies.
      std::string off = value;
      char& c = off[off.size() / 2];
      c = c == 'a' ? 'b' : 'a';
      FuzzCheck(!store_->Verify(off).ok(), "near-miss token never verifies");
    }
  }

  keygate::fuzz::TempDir dir_;  // the store's real path (placeholders only)
  // This input's store, in memory; outlives store_.
  std::shared_ptr<keygate::fuzz::MemoryFileSystem> file_system_ =
      keygate::fuzz::MemoryFileSystem::Create();
  keygate::fuzz::ManualClock clock_;
  std::unique_ptr<keygate::Store> store_;
  Model model_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  FuzzInput input(data, size);
  Harness harness;
  harness.Run(input);
  return 0;
}
