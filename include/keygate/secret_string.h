// keygate/secret_string.h: an owning buffer for secret text that is wiped on
// destruction.
#ifndef KEYGATE_SECRET_STRING_H_
#define KEYGATE_SECRET_STRING_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/base/attributes.h"

namespace keygate {

// SecretString owns a copy of secret bytes (a token's plaintext) and wipes
// them with sodium_memzero when destroyed or moved from. It is move-only so
// the secret is never silently duplicated. Not thread-safe for concurrent
// mutation; const access from several threads is fine.
class SecretString {
 public:
  SecretString() = default;
  // Copies `value` into a fresh buffer. The caller remains responsible for
  // wiping its own copy.
  explicit SecretString(std::string_view value);
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  ~SecretString();

  // view returns the secret; valid until this object is destroyed, moved
  // from or reassigned.
  std::string_view view() const ABSL_ATTRIBUTE_LIFETIME_BOUND {
    return {data_.get(), size_};
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void Wipe();

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

}  // namespace keygate

#endif  // KEYGATE_SECRET_STRING_H_
