#include "lib/storage/coding.h"

namespace keygate::storage {

void PutVarint32(std::string* dst, uint32_t value) {
  while (value >= 0x80) {
    dst->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  dst->push_back(static_cast<char>(value));
}

void PutLengthPrefixed(std::string* dst, std::string_view value) {
  PutVarint32(dst, static_cast<uint32_t>(value.size()));
  dst->append(value.data(), value.size());
}

void PutFixed64BigEndian(std::string* dst, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    dst->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

bool Decoder::GetByte(uint8_t* value) {
  if (input_.empty()) return false;
  *value = static_cast<uint8_t>(input_[0]);
  input_.remove_prefix(1);
  return true;
}

bool Decoder::GetVarint32(uint32_t* value) {
  uint32_t result = 0;
  for (int shift = 0; shift <= 28; shift += 7) {
    if (input_.empty()) return false;
    const uint8_t byte = static_cast<uint8_t>(input_[0]);
    input_.remove_prefix(1);
    if (shift == 28 && byte > 0x0f) return false;  // overflows 32 bits
    result |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

bool Decoder::GetBytes(size_t n, std::string_view* value) {
  if (input_.size() < n) return false;
  *value = input_.substr(0, n);
  input_.remove_prefix(n);
  return true;
}

bool Decoder::GetLengthPrefixed(std::string_view* value) {
  uint32_t size;
  return GetVarint32(&size) && GetBytes(size, value);
}

bool Decoder::GetFixed64BigEndian(uint64_t* value) {
  std::string_view bytes;
  if (!GetBytes(8, &bytes)) return false;
  uint64_t result = 0;
  for (char c : bytes) result = (result << 8) | static_cast<uint8_t>(c);
  *value = result;
  return true;
}

}  // namespace keygate::storage
