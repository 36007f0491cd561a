// tests/crash/crash_workload.h: the random workload of the crash tests and
// the oracle that checks a recovered store against it. Header-only.
//
// One organization, a small pool of account slugs (so accounts are deleted
// and re-created), token slugs unique per run. A State is what the store
// holds for the organization, as its public API reports it: accounts (name,
// disabled) and tokens (account, revoked). The oracle keeps the State of all
// acknowledged operations and the one operation in flight (intent sent, no
// acknowledgement); a recovered store must equal the State without it or
// with it applied whole. Token values are secrets even here: nothing in
// this file prints one.
#ifndef KEYGATE_TESTS_CRASH_CRASH_WORKLOAD_H_
#define KEYGATE_TESTS_CRASH_CRASH_WORKLOAD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "keygate/keygate.h"

namespace keygate::crash {

inline constexpr char kOrganization[] = "org-crash";
inline constexpr char kActor[] = "crash-test";
inline constexpr int kAccountPool = 5;
// A fixed test pepper: the crash test reopens one store many times.
inline constexpr char kKeyringText[] =
    "1 8f3c2a1b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a\n";

inline std::shared_ptr<const Keyring> CrashKeyring() {
  absl::StatusOr<std::shared_ptr<const Keyring>> k = Keyring::Parse(kKeyringText);
  return k.ok() ? *k : nullptr;
}

// CrashOptions: durability on (unless `sync` is false), retention zero so a
// purge deletes every revoked token.
inline Options CrashOptions(const std::string& path, bool sync = true) {
  Options options;
  options.path = path;
  options.keyring = CrashKeyring();
  options.sync_writes = sync;
  options.retention = absl::ZeroDuration();
  return options;
}

enum class OpKind : int {
  kCreateAccount, kCreateToken, kRevoke, kDisable, kEnable, kRename,
  kDeleteAccount, kPurge,
};

struct Op {
  OpKind kind = OpKind::kPurge;
  std::string account = "-";
  std::string token = "-";
  std::string name = "-";

  std::string Encode() const {
    return absl::StrCat(static_cast<int>(kind), " ", account, " ", token, " ",
                        name);
  }
  static std::optional<Op> Decode(const std::string& line) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() != 4) return std::nullopt;
    Op op;
    op.kind = static_cast<OpKind>(std::stoi(f[0]));
    op.account = f[1];
    op.token = f[2];
    op.name = f[3];
    return op;
  }
};

struct AccountState {
  std::string name;
  bool disabled = false;
  bool operator==(const AccountState&) const = default;
};
struct TokenState {
  std::string account;
  bool revoked = false;
  bool operator==(const TokenState&) const = default;
};

struct State {
  std::map<std::string, AccountState> accounts;
  std::map<std::string, TokenState> tokens;  // by token slug
  bool operator==(const State&) const = default;

  std::string Describe() const {
    std::ostringstream out;
    for (const auto& [slug, a] : accounts) {
      out << " account " << slug << "(" << a.name << (a.disabled ? ",disabled" : "")
          << ")";
    }
    for (const auto& [slug, t] : tokens) {
      out << " token " << slug << "@" << t.account << (t.revoked ? "(revoked)" : "");
    }
    return out.str();
  }
};

// Apply is the model of one successful operation.
inline State Apply(State s, const Op& op) {
  switch (op.kind) {
    case OpKind::kCreateAccount: s.accounts[op.account] = {op.name, false}; break;
    case OpKind::kCreateToken: s.tokens[op.token] = {op.account, false}; break;
    case OpKind::kRevoke: s.tokens[op.token].revoked = true; break;
    case OpKind::kDisable: s.accounts[op.account].disabled = true; break;
    case OpKind::kEnable: s.accounts[op.account].disabled = false; break;
    case OpKind::kRename: s.accounts[op.account].name = op.name; break;
    case OpKind::kDeleteAccount:
      s.accounts.erase(op.account);
      std::erase_if(s.tokens, [&](const auto& t) { return t.second.account == op.account; });
      break;
    case OpKind::kPurge:
      std::erase_if(s.tokens, [](const auto& t) { return t.second.revoked; });
      break;
  }
  return s;
}

// PickOp chooses an operation that must succeed on `s`. `tag` makes token
// slugs and names unique across runs sharing a store.
inline Op PickOp(const State& s, std::mt19937_64& rng, const std::string& tag,
                 uint64_t& counter) {
  auto pick = [&](auto& container) {
    auto it = container.begin();
    std::advance(it, rng() % container.size());
    return it;
  };
  const std::string unique = absl::StrCat(tag, "-", counter++);
  std::vector<std::string> enabled;
  for (const auto& [slug, a] : s.accounts) if (!a.disabled) enabled.push_back(slug);
  std::vector<std::string> live;
  for (const auto& [slug, t] : s.tokens) if (!t.revoked) live.push_back(slug);
  for (;;) {
    const int roll = static_cast<int>(rng() % 100);
    Op op;
    if (roll < 10 || s.accounts.empty()) {
      if (static_cast<int>(s.accounts.size()) >= kAccountPool) continue;
      std::string slug;
      do slug = absl::StrCat("acct-", rng() % kAccountPool);
      while (s.accounts.contains(slug));
      op.kind = OpKind::kCreateAccount; op.account = slug; op.name = "a" + unique;
    } else if (roll < 50) {
      if (enabled.empty()) continue;
      op.kind = OpKind::kCreateToken;
      op.account = enabled[rng() % enabled.size()];
      op.token = "t" + unique; op.name = op.token;
    } else if (roll < 72) {
      if (live.empty()) continue;
      op.kind = OpKind::kRevoke;
      op.token = live[rng() % live.size()];
      op.account = s.tokens.at(op.token).account;
    } else if (roll < 80) {
      auto it = pick(s.accounts);
      op.kind = it->second.disabled ? OpKind::kEnable : OpKind::kDisable;
      op.account = it->first;
    } else if (roll < 88) {
      op.kind = OpKind::kRename; op.account = pick(s.accounts)->first;
      op.name = "r" + unique;
    } else if (roll < 94) {
      op.kind = OpKind::kDeleteAccount; op.account = pick(s.accounts)->first;
    } else {
      op.kind = OpKind::kPurge;
    }
    return op;
  }
}

// Run performs `op` on the store; on success of a create, `value` receives
// the token's plaintext.
inline absl::Status Run(Store& store, const Op& op, std::string* value) {
  switch (op.kind) {
    case OpKind::kCreateAccount:
      return store.CreateServiceAccount(kOrganization, {op.name, op.account}, kActor)
          .status();
    case OpKind::kCreateToken: {
      TokenSpec spec;
      spec.name = op.name;
      spec.slug = op.token;
      spec.scopes = {"read:tokens"};
      absl::StatusOr<CreatedToken> t = store.CreateToken(kOrganization, op.account, spec, kActor);
      if (!t.ok()) return t.status();
      value->assign(t->value.view());
      return absl::OkStatus();
    }
    case OpKind::kRevoke:
      return store.RevokeToken(kOrganization, op.account, op.token, kActor);
    case OpKind::kDisable:
    case OpKind::kEnable:
      return store
          .SetServiceAccountDisabled(kOrganization, op.account,
                                     op.kind == OpKind::kDisable, kActor)
          .status();
    case OpKind::kRename:
      return store.RenameServiceAccount(kOrganization, op.account, op.name, kActor)
          .status();
    case OpKind::kDeleteAccount:
      return store.DeleteServiceAccount(kOrganization, op.account, kActor);
    case OpKind::kPurge:
      return store.PurgeRetired().status();
  }
  return absl::InternalError("unknown op");
}

// Observe reads the organization's State through the public API: a fresh
// scan of storage (every account, every token of each).
inline absl::StatusOr<State> Observe(Store& store) {
  State s;
  PageRequest page;
  page.limit = PageRequest::kMaxLimit;
  absl::StatusOr<Page<ServiceAccount>> accounts = store.ListServiceAccounts(kOrganization, page);
  if (!accounts.ok()) return accounts.status();
  for (const ServiceAccount& a : accounts->items) {
    s.accounts[a.slug] = {a.name, a.disabled};
    PageRequest token_page;
    token_page.limit = 50;
    for (;;) {
      absl::StatusOr<Page<TokenMetadata>> tokens =
          store.ListTokens(kOrganization, a.slug, token_page);
      if (!tokens.ok()) return tokens.status();
      for (const TokenMetadata& t : tokens->items) s.tokens[t.slug] = {a.slug, t.revoked()};
      if (tokens->next_cursor.empty()) break;
      token_page.cursor = tokens->next_cursor;
    }
  }
  return s;
}

// Oracle is the expected state of the store and the token values it knows.
struct Oracle {
  State acked;
  std::optional<Op> pending;  // intent sent, no acknowledgement
  std::map<std::string, std::string> values;  // token slug -> plaintext
  uint64_t pending_applied = 0;
  uint64_t pending_absent = 0;

  void Intent(const Op& op) { pending = op; }
  void Ack(const std::string& value) {
    if (!pending) return;
    acked = Apply(acked, *pending);
    if (pending->kind == OpKind::kCreateToken) values[pending->token] = value;
    pending.reset();
  }

  // Check compares the recovered store with the oracle and settles the
  // pending operation; returns a description of the first divergence, or
  // nullopt. Checks: the state equals the acknowledged one with the pending
  // operation wholly applied or wholly absent; every known token verifies
  // exactly when it exists unrevoked in an enabled account (so every
  // acknowledged revoke fails verify, and the verify index agrees with the
  // scan).
  // With `pending_must_be_absent` (a live store whose call just failed),
  // the pending operation must not show at all.
  std::optional<std::string> Check(Store& store, bool pending_must_be_absent = false) {
    absl::StatusOr<State> actual = Observe(store);
    if (!actual.ok()) return absl::StrCat("observe: ", actual.status().ToString());
    if (*actual == acked) {
      if (pending) ++pending_absent;
    } else if (pending && !pending_must_be_absent && *actual == Apply(acked, *pending)) {
      ++pending_applied;
      acked = *actual;
    } else {
      return absl::StrCat(
          "recovered state diverges.\n expected:", acked.Describe(),
          pending ? absl::StrCat("\n (or with pending op ", pending->Encode(), ")") : "",
          "\n actual:  ", actual->Describe());
    }
    pending.reset();
    for (const auto& [slug, value] : values) {
      auto t = acked.tokens.find(slug);
      bool expect = false;
      if (t != acked.tokens.end() && !t->second.revoked) {
        auto a = acked.accounts.find(t->second.account);
        expect = a != acked.accounts.end() && !a->second.disabled;
      }
      absl::StatusOr<Principal> verified = store.Verify(value);
      if (verified.ok() != expect) {
        return absl::StrCat("token ", slug, (expect ? " should verify but got " : " verifies but must not"),
                            verified.ok() ? "" : verified.status().ToString());
      }
    }
    return std::nullopt;
  }
};

}  // namespace keygate::crash

#endif  // KEYGATE_TESTS_CRASH_CRASH_WORKLOAD_H_
