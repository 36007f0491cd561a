// fuzz/token_codec_fuzzer.cc: TokenCodec::ParsePepperId against a reference
// model.
//
// Invariants checked on every input:
//   - ParsePepperId never crashes or reads out of bounds (ASan);
//   - its answer equals a straightforward reference parser's;
//   - if it accepts, the input has exactly token_size() bytes, the prefix,
//     and a checksum that round-trips through CRC-32C.
// Random inputs almost never carry a valid checksum, so each input of the
// right length is also checked with its checksum repaired; that reaches the
// accepting path and the prefix/alphabet/id checks behind the checksum.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/token/codec.h"
#include "lib/token/crc32c.h"

namespace {

using keygate::token::kChecksumChars;
using keygate::token::TokenCodec;

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int Base62(char c) {
  const size_t pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

std::string EncodeChecksum(uint32_t crc) {
  uint64_t v = crc;
  std::string out(kChecksumChars, '0');
  for (size_t i = kChecksumChars; i-- > 0;) {
    out[i] = kAlphabet[v % 62];
    v /= 62;
  }
  return out;
}

// ReferenceParse is the format spelled out as plainly as possible.
int ReferenceParse(const TokenCodec& codec, std::string_view s) {
  if (s.size() != codec.token_size()) return 0;
  const std::string_view prefix = codec.prefix();
  if (s.substr(0, prefix.size()) != prefix) return 0;
  const int id = Base62(s[prefix.size()]);
  if (id < 1 || id > 61) return 0;
  const size_t checksum_begin = s.size() - kChecksumChars;
  for (size_t i = prefix.size() + 1; i < s.size(); ++i) {
    if (Base62(s[i]) < 0) return 0;
  }
  const uint32_t crc = keygate::token::Crc32c(s.data(), checksum_begin);
  if (s.substr(checksum_begin) != EncodeChecksum(crc)) return 0;
  return id;
}

void Check(const TokenCodec& codec, std::string_view input) {
  const int id = codec.ParsePepperId(input);
  if (id != ReferenceParse(codec, input)) std::abort();
  if (id == 0) return;
  if (id < 1 || id > 61) std::abort();
  if (input.size() != codec.token_size()) std::abort();
  const size_t checksum_begin = input.size() - kChecksumChars;
  const uint32_t crc = keygate::token::Crc32c(input.data(), checksum_begin);
  if (input.substr(checksum_begin) != EncodeChecksum(crc)) std::abort();
  // Both CRC paths must agree on what was accepted.
  if (crc != keygate::token::internal::Crc32cPortable(input.data(),
                                                      checksum_begin)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Two codecs: the default prefix and the longest allowed one.
  static const TokenCodec short_codec("kg_");
  static const TokenCodec long_codec("abcdefghij012345_");
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (const TokenCodec* codec : {&short_codec, &long_codec}) {
    Check(*codec, input);
    if (size == codec->token_size()) {
      // Same body, checksum repaired.
      std::string repaired(input.substr(0, size - kChecksumChars));
      repaired += EncodeChecksum(
          keygate::token::Crc32c(repaired.data(), repaired.size()));
      Check(*codec, repaired);
    }
  }
  return 0;
}
