// lib/index/verify_index.h: the in-memory map from keyed digest to grant that
// answers Store::Verify without touching storage.
#ifndef KEYGATE_LIB_INDEX_VERIFY_INDEX_H_
#define KEYGATE_LIB_INDEX_VERIFY_INDEX_H_

#include <cstring>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "lib/crypto/token_digester.h"
#include "lib/index/token_grant.h"

namespace keygate::index {

using GrantPtr = std::shared_ptr<const internal::TokenGrant>;

// VerifyIndex holds a grant for every stored token (revoked ones included
// until purged, so failures can say why). The store keeps it exact: every
// write updates it after the write is durable and before the write returns.
// Safe for concurrent use; Find takes a shared lock only.
class VerifyIndex {
 public:
  // Find returns the grant of `digest`, or nullptr. Allocation-free.
  GrantPtr Find(const crypto::Digest& digest) const ABSL_LOCKS_EXCLUDED(mu_);

  // Contains reports whether `digest` is present.
  bool Contains(const crypto::Digest& digest) const ABSL_LOCKS_EXCLUDED(mu_);

  // Put inserts or replaces the grant of `digest`.
  void Put(const crypto::Digest& digest, GrantPtr grant) ABSL_LOCKS_EXCLUDED(mu_);

  // Erase removes `digest` if present.
  void Erase(const crypto::Digest& digest) ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The digest is already a keyed pseudo-random value: its first 8 bytes are
  // a perfectly good hash.
  struct DigestHash {
    size_t operator()(const crypto::Digest& d) const noexcept {
      size_t h;
      std::memcpy(&h, d.data(), sizeof(h));
      return h;
    }
  };
  // Equality in constant time, like every comparison of secret-derived data.
  struct DigestEq {
    bool operator()(const crypto::Digest& a, const crypto::Digest& b) const noexcept {
      return crypto::DigestEqual(a, b);
    }
  };

  mutable absl::Mutex mu_;
  absl::flat_hash_map<crypto::Digest, GrantPtr, DigestHash, DigestEq> map_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace keygate::index

#endif  // KEYGATE_LIB_INDEX_VERIFY_INDEX_H_
