#include "lib/index/verify_index.h"

#include <utility>

namespace keygate::index {

GrantPtr VerifyIndex::Find(const crypto::Digest& digest) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = map_.find(digest);
  return it == map_.end() ? nullptr : it->second;
}

bool VerifyIndex::Contains(const crypto::Digest& digest) const {
  absl::ReaderMutexLock lock(&mu_);
  return map_.contains(digest);
}

void VerifyIndex::Put(const crypto::Digest& digest, GrantPtr grant) {
  GrantPtr old;  // a replaced grant is released outside the lock
  absl::MutexLock lock(&mu_);
  auto it = map_.try_emplace(digest).first;
  old = std::exchange(it->second, std::move(grant));
}

void VerifyIndex::Erase(const crypto::Digest& digest) {
  GrantPtr old;  // released outside the lock
  absl::MutexLock lock(&mu_);
  auto it = map_.find(digest);
  if (it == map_.end()) return;
  old = std::move(it->second);
  map_.erase(it);
}

size_t VerifyIndex::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return map_.size();
}

}  // namespace keygate::index
