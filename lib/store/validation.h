// lib/store/validation.h: input rules of the store's public calls, with the
// messages that say which rule an input broke.
//
// The rules themselves are public (keygate/validation.h); each Check* here
// appends a FieldError to `errors` when its input breaks one, so one call can
// report every bad field at once.
#ifndef KEYGATE_LIB_STORE_VALIDATION_H_
#define KEYGATE_LIB_STORE_VALIDATION_H_

#include <string>
#include <string_view>
#include <vector>

#include "keygate/errors.h"
#include "keygate/page.h"
#include "keygate/validation.h"

namespace keygate::store {

// IsValidUtf8 reports whether `s` is well-formed UTF-8 (no overlongs,
// surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view s);

// HasControlCharacter reports whether `s` holds a control character: C0, DEL,
// C1, U+2028/2029 or a bidirectional override or isolate (utf8.h).
bool HasControlCharacter(std::string_view s);

// CheckIdentity: organization / actor ids (IsValidIdentity).
void CheckIdentity(std::string_view field, std::string_view value,
                   std::vector<FieldError>& errors);

// CheckName: display names (IsValidName).
void CheckName(std::string_view field, std::string_view value,
               std::vector<FieldError>& errors);

// CheckSlug: IsValidSlug, with a message that says which rule failed.
void CheckSlug(std::string_view field, std::string_view value,
               std::vector<FieldError>& errors);

// CheckPage: a page limit within [1, PageRequest::kMaxLimit] (the cursor is
// checked by the list that reads it).
void CheckPage(const PageRequest& page, std::vector<FieldError>& errors);

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_VALIDATION_H_
