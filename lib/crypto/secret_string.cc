// lib/crypto/secret_string.cc: SecretString, wiped with sodium_memzero.
#include "keygate/secret_string.h"

#include <sodium.h>

#include <cstring>
#include <utility>

namespace keygate {

SecretString::SecretString(std::string_view value) : size_(value.size()) {
  if (size_ == 0) return;
  data_ = std::make_unique<char[]>(size_);
  std::memcpy(data_.get(), value.data(), size_);
}

SecretString::SecretString(SecretString&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretString::~SecretString() { Wipe(); }

void SecretString::Wipe() {
  if (data_ != nullptr) sodium_memzero(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

}  // namespace keygate
