// lib/store/validation.h: input rules of the store's public calls.
//
// Each Check* appends a FieldError to `errors` when its input breaks the
// rule, so one call can report every bad field at once.
#ifndef KEYGATE_LIB_STORE_VALIDATION_H_
#define KEYGATE_LIB_STORE_VALIDATION_H_

#include <string>
#include <string_view>
#include <vector>

#include "keygate/errors.h"

namespace keygate::store {

inline constexpr size_t kMaxIdentitySize = 256;  // organization, actor
inline constexpr size_t kMaxNameSize = 200;
inline constexpr size_t kMinSlugSize = 2;
inline constexpr size_t kMaxSlugSize = 100;

// IsValidUtf8 reports whether `s` is well-formed UTF-8 (no overlongs,
// surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view s);

// HasControlCharacter reports whether `s` holds a C0 control byte or DEL.
bool HasControlCharacter(std::string_view s);

// IsValidSlug: ^[a-z0-9][a-z0-9-]*[a-z0-9]$, 2-100 chars.
bool IsValidSlug(std::string_view slug);

// CheckIdentity: organization / actor ids, 1-256 bytes of valid UTF-8
// without control characters.
void CheckIdentity(std::string_view field, std::string_view value,
                   std::vector<FieldError>& errors);

// CheckName: display names, 1-200 bytes of valid UTF-8 without control
// characters, not only whitespace.
void CheckName(std::string_view field, std::string_view value,
               std::vector<FieldError>& errors);

// CheckSlug: IsValidSlug, with a message that says which rule failed.
void CheckSlug(std::string_view field, std::string_view value,
               std::vector<FieldError>& errors);

// Slugify derives a slug stem from a display name: ASCII letters and digits
// lowercased, every other run turned into one '-', trimmed, at most
// `max_size` chars. Returns `fallback` if fewer than 2 chars remain.
std::string Slugify(std::string_view name, size_t max_size,
                    std::string_view fallback);

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_VALIDATION_H_
