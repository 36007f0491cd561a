// lib/store/active_token_index.h: the in-memory indexes that answer the two
// questions CreateToken asks before it writes: "does this account hold an
// active token with this name?" and "how many active tokens does this
// organization hold?", without scanning tokens.
//
// Design. The store already visits every stored token when it opens (to load
// the verify index, lib/store/open.cc); the same scan fills this index, and
// every writer updates it under the store's write_mu_ right after its batch
// commits, exactly like the verify index. So it always describes the
// committed store, and never needs its own storage (storage format v1 stays
// as it is: no secondary keys, no migration).
//
// Only non-revoked tokens are held: a revoked token holds no name and counts
// for no quota whatever its expiry. A token rotated out
// (TokenMetadata::rotated_out) holds no name either (its successor does) but
// counts for the quota until its effective expiry (the earlier of its expiry
// and its grace end), like any token with that expiry. A non-revoked token is active at `now`
// iff it has no expiry or its expiry is after `now` (TokenMetadata::active),
// so expired tokens stay here (with their expiry) until they are revoked,
// purged or deleted with their account; the questions compare expiries with
// `now` when asked. Answers equal the scans storage::Tables::
// FindActiveTokenName and CountActiveTokens would give at the same `now`
// (tests/store_active_token_index_test.cc checks them against each other).
//
//  - Names, per account: a hash map from a 128-bit key of the name to the
//    expiries of the non-revoked tokens holding it (one inline in the map
//    slot; the rare second and later holders, left by a name reused after
//    its token expired, in a side map). The key is SipHash-2-4-128
//    (libsodium crypto_shorthash_siphashx24) of the name under a random key
//    drawn per index: no name string is kept per token, and nobody can
//    choose two names that collide without that key (a chance collision
//    among n names of an account is n^2 / 2^129, and would only make the
//    create fail with Conflict).
//  - Quota, per organization: the number of non-revoked tokens without
//    expiry, and an ordered multiset of the expiries of the others. "Expired
//    at now" is counted incrementally: the index remembers the last `now` it
//    was asked about (the watermark) and how many expiries are at or before
//    it, and moves the watermark over the expiries in between on the next
//    question. With a clock that only moves forward each expiry is passed
//    once, so the count costs O(log n) amortized; a clock moved backward
//    walks back over the expiries between the two times.
//
// Costs: Add, Remove and NameTaken are O(1) expected (hash maps) plus
// O(log n) in the organization's multiset for tokens with an expiry, plus
// O(holders of that name) (bounded by how many expired, unrevoked tokens
// reuse the name within the retention window). CountActive as above.
// ForgetAccount is O(tokens of that account) and touches no other account.
//
// Thread safety: none of its own. The store calls it only under write_mu_.
#ifndef KEYGATE_LIB_STORE_ACTIVE_TOKEN_INDEX_H_
#define KEYGATE_LIB_STORE_ACTIVE_TOKEN_INDEX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "keygate/token.h"

namespace keygate::store {

class ActiveTokenIndex {
 public:
  // The index starts empty, with a fresh random name-hash key (libsodium
  // must be initialized, crypto::InitSodium).
  ActiveTokenIndex();
  ~ActiveTokenIndex();
  ActiveTokenIndex(const ActiveTokenIndex&) = delete;
  ActiveTokenIndex& operator=(const ActiveTokenIndex&) = delete;

  // Add records a stored token (organization, service_account, name,
  // expires_at and revoked_at are read). A revoked token is ignored.
  // REQUIRES: the token is not already held (each stored token is added
  // once: when created, or when loaded at open).
  void Add(const TokenMetadata& token);

  // Remove forgets a token Add recorded, when it is revoked, purged or
  // deleted; pass its metadata as it was added (not yet revoked). A revoked
  // token, or one the index does not hold, is ignored.
  void Remove(const TokenMetadata& token);

  // ForgetAccount forgets every token of the account (the account was
  // deleted with its tokens). O(tokens of that account); other accounts
  // are not visited.
  void ForgetAccount(std::string_view organization,
                     std::string_view service_account);

  // Clear forgets every token (before a writer re-adds them all from a
  // scan: a store of a fleet rebuilding, lib/store/follower.cc).
  void Clear() {
    organizations_.clear();
    token_count_ = 0;
  }

  // NameTaken reports whether the account holds a token named `name` that
  // is active at `now`.
  bool NameTaken(std::string_view organization,
                 std::string_view service_account, std::string_view name,
                 absl::Time now) const;

  // CountActive is the number of the organization's tokens active at
  // `now`. Not const: it moves the organization's watermark.
  uint64_t CountActive(std::string_view organization, absl::Time now);

  // token_count is the number of tokens held (the non-revoked ones).
  uint64_t token_count() const { return token_count_; }

 private:
  // NameKey is the keyed 128-bit hash of a token name.
  using NameKey = std::array<uint64_t, 2>;
  struct NameKeyHash {
    // The key is already a PRF output: its first word is a good hash.
    size_t operator()(const NameKey& key) const {
      return static_cast<size_t>(key[0]);
    }
  };
  // Expiry of a non-revoked token, in Unix microseconds (storage's
  // precision); kNoExpiry for none.
  using Expiry = int64_t;
  static constexpr Expiry kNoExpiry = INT64_MAX;
  // In a name's slot, kSeveralHolders says the holders are in
  // Account::shared_names instead.
  static constexpr Expiry kSeveralHolders = INT64_MIN;

  struct Account {
    // Name -> the expiry of its one holder, or kSeveralHolders.
    absl::flat_hash_map<NameKey, Expiry, NameKeyHash> names;
    // Name -> the expiries of its holders, for names held by two or more.
    absl::flat_hash_map<NameKey, std::vector<Expiry>, NameKeyHash>
        shared_names;
    // The effective expiries of the account's rotated-out tokens (no name).
    std::vector<Expiry> rotated_out;

    bool empty() const { return names.empty() && rotated_out.empty(); }
  };

  struct Organization {
    uint64_t without_expiry = 0;
    absl::btree_multiset<Expiry> expiries;
    // `expired` counts the members of `expiries` <= `watermark`.
    Expiry watermark = INT64_MIN;
    uint64_t expired = 0;
    absl::flat_hash_map<std::string, Account> accounts;
  };

  NameKey KeyOf(std::string_view name) const;
  static Expiry ExpiryOf(const TokenMetadata& token);
  // AddExpiry / RemoveExpiry keep an organization's quota state.
  static void AddExpiry(Organization& organization, Expiry expiry);
  static void RemoveExpiry(Organization& organization, Expiry expiry);
  // RemoveHolder drops one holder with `expiry` of `name` from `account`;
  // false if there is none.
  static bool RemoveHolder(Account& account, const NameKey& name,
                           Expiry expiry);

  std::array<unsigned char, 16> hash_key_;
  absl::flat_hash_map<std::string, Organization> organizations_;
  uint64_t token_count_ = 0;
};

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_ACTIVE_TOKEN_INDEX_H_
