// lib/storage/coding.h: primitive encodings for storage keys and records.
#ifndef KEYGATE_LIB_STORAGE_CODING_H_
#define KEYGATE_LIB_STORAGE_CODING_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace keygate::storage {

void PutVarint32(std::string* dst, uint32_t value);
// PutLengthPrefixed appends varint32(size) then the bytes, so that
// concatenated fields can never be confused with one another.
void PutLengthPrefixed(std::string* dst, std::string_view value);
// PutFixed64BigEndian keeps numeric order equal to byte order.
void PutFixed64BigEndian(std::string* dst, uint64_t value);

// Decoder consumes fields from a byte string. Every Get* returns false (and
// leaves the decoder failed) on truncated or malformed input; it never reads
// past the end.
class Decoder {
 public:
  explicit Decoder(std::string_view input) : input_(input) {}

  bool GetByte(uint8_t* value);
  bool GetVarint32(uint32_t* value);
  bool GetLengthPrefixed(std::string_view* value);
  bool GetFixed64BigEndian(uint64_t* value);
  bool GetBytes(size_t n, std::string_view* value);

  std::string_view remaining() const { return input_; }
  bool done() const { return input_.empty(); }

 private:
  std::string_view input_;
};

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_CODING_H_
