#include "lib/base/utf8.h"

namespace keygate::utf8 {

size_t Decode(std::string_view s, size_t i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t min;
  uint32_t value;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2, min = 0x80, value = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3, min = 0x800, value = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4, min = 0x10000, value = b0 & 0x07;
  } else {
    return 0;  // continuation byte, 0xc0/0xc1 (always overlong), or > 0xf4
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xc0) != 0x80) return 0;
    value = (value << 6) | (b & 0x3f);
  }
  if (value < min || value > 0x10ffff) return 0;
  if (value >= 0xd800 && value <= 0xdfff) return 0;  // surrogates
  *cp = value;
  return len;
}

bool IsValid(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    const size_t n = Decode(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool HasUnsafeCodePoint(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    const size_t n = Decode(s, i, &cp);
    if (n == 0 || IsUnsafeCodePoint(cp)) return true;
    i += n;
  }
  return false;
}

}  // namespace keygate::utf8
