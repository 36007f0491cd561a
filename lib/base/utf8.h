// lib/base/utf8.h: the one UTF-8 decoder keygate uses to judge text.
#ifndef KEYGATE_LIB_BASE_UTF8_H_
#define KEYGATE_LIB_BASE_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keygate::utf8 {

// Decode decodes one UTF-8 sequence at s[i] (REQUIRES: i < s.size()).
// Returns its length (1-4) and sets *cp, or 0 if the bytes at s[i] do not
// start a valid sequence (overlong forms, surrogates, code points above
// U+10FFFF, truncated or stray bytes).
size_t Decode(std::string_view s, size_t i, uint32_t* cp);

// IsUnsafeCodePoint: code points that must not reach a log line, a client or
// a stored name verbatim: C0 and C1 controls, DEL, line/paragraph separators
// and the bidirectional overrides and isolates (which can disguise the text
// around them).
inline bool IsUnsafeCodePoint(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// IsValid reports whether all of `s` is well-formed UTF-8.
bool IsValid(std::string_view s);

// HasUnsafeCodePoint reports whether valid UTF-8 `s` holds an unsafe code
// point; invalid sequences count as unsafe.
bool HasUnsafeCodePoint(std::string_view s);

}  // namespace keygate::utf8

#endif  // KEYGATE_LIB_BASE_UTF8_H_
