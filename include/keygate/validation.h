// keygate/validation.h: the input rules of keygate's identifiers and names.
//
// The store applies exactly these rules (and reports a broken one as an
// InvalidArgument with a FieldError naming the field); hosts and adapters
// that check input before calling the store use the same functions, so a
// value one layer accepts is never refused by another. All functions are
// pure and thread-safe; none allocates.
#ifndef KEYGATE_VALIDATION_H_
#define KEYGATE_VALIDATION_H_

#include <cstddef>
#include <string_view>

namespace keygate {

// Identities (organization and actor ids) are 1 to kMaxIdentitySize bytes.
inline constexpr size_t kMaxIdentitySize = 256;
// Display names of service accounts and tokens are 1 to kMaxNameSize bytes.
inline constexpr size_t kMaxNameSize = 200;
// Slugs are kMinSlugSize to kMaxSlugSize characters.
inline constexpr size_t kMinSlugSize = 2;
inline constexpr size_t kMaxSlugSize = 100;

// IsValidSlug reports whether `slug` can name a service account or token:
// ^[a-z0-9][a-z0-9-]*[a-z0-9]$, kMinSlugSize to kMaxSlugSize characters.
bool IsValidSlug(std::string_view slug);

// IsValidIdentity reports whether `value` can be an organization or actor
// id: 1 to kMaxIdentitySize bytes of valid UTF-8 (no overlongs, surrogates or
// code points past U+10FFFF) without control characters (C0, DEL, C1,
// U+2028/2029, bidirectional overrides and isolates).
bool IsValidIdentity(std::string_view value);

// IsValidName reports whether `value` can be a display name: 1 to
// kMaxNameSize bytes of valid UTF-8 without control characters (as for
// identities), and not only spaces.
bool IsValidName(std::string_view value);

}  // namespace keygate

#endif  // KEYGATE_VALIDATION_H_
