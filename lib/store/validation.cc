// lib/store/validation.cc: the public input rules (keygate/validation.h) and
// the store's field checks built on them.
#include "lib/store/validation.h"

#include "absl/strings/str_cat.h"
#include "lib/base/utf8.h"

namespace keygate {

namespace {

// IsValidText: the rule shared by identities and names.
bool IsValidText(std::string_view value, size_t max) {
  return !value.empty() && value.size() <= max && utf8::IsValid(value) &&
         !utf8::HasUnsafeCodePoint(value);
}

bool IsOnlySpaces(std::string_view value) {
  return value.find_first_not_of(' ') == std::string_view::npos;
}

}  // namespace

bool IsValidSlug(std::string_view slug) {
  if (slug.size() < kMinSlugSize || slug.size() > kMaxSlugSize) return false;
  for (char c : slug) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return slug.front() != '-' && slug.back() != '-';
}

bool IsValidIdentity(std::string_view value) {
  return IsValidText(value, kMaxIdentitySize);
}

bool IsValidName(std::string_view value) {
  return IsValidText(value, kMaxNameSize) && !IsOnlySpaces(value);
}

namespace store {

bool IsValidUtf8(std::string_view s) { return utf8::IsValid(s); }

bool HasControlCharacter(std::string_view s) {
  return utf8::HasUnsafeCodePoint(s);
}

namespace {

void Add(std::vector<FieldError>& errors, std::string_view field,
         std::string message, std::string_view value) {
  errors.push_back(
      FieldError{std::string(field), std::move(message), SafeValue(value)});
}

// AddTextError adds the first text rule `value` breaks (REQUIRES: it breaks
// one); returns false if it broke none.
bool AddTextError(std::string_view field, std::string_view value, size_t max,
                  std::vector<FieldError>& errors) {
  if (value.empty()) {
    Add(errors, field, "must not be empty", value);
  } else if (value.size() > max) {
    Add(errors, field, absl::StrCat("must be at most ", max, " bytes"), value);
  } else if (!IsValidUtf8(value)) {
    Add(errors, field, "must be valid UTF-8", value);
  } else if (HasControlCharacter(value)) {
    Add(errors, field, "must not contain control characters", value);
  } else {
    return false;
  }
  return true;
}

}  // namespace

void CheckIdentity(std::string_view field, std::string_view value,
                   std::vector<FieldError>& errors) {
  if (IsValidIdentity(value)) return;
  AddTextError(field, value, kMaxIdentitySize, errors);
}

void CheckName(std::string_view field, std::string_view value,
               std::vector<FieldError>& errors) {
  if (IsValidName(value)) return;
  if (AddTextError(field, value, kMaxNameSize, errors)) return;
  Add(errors, field, "must not be only spaces", value);
}

void CheckSlug(std::string_view field, std::string_view value,
               std::vector<FieldError>& errors) {
  if (IsValidSlug(value)) return;
  Add(errors, field,
      absl::StrCat("must be ", kMinSlugSize, "-", kMaxSlugSize,
                   " characters of a-z, 0-9 and '-', starting and ending "
                   "with a letter or digit"),
      value);
}

void CheckPage(const PageRequest& page, std::vector<FieldError>& errors) {
  if (page.limit < 1 || page.limit > PageRequest::kMaxLimit) {
    errors.push_back({"limit",
                      absl::StrCat("must be between 1 and ",
                                   PageRequest::kMaxLimit),
                      absl::StrCat(page.limit)});
  }
}

}  // namespace store
}  // namespace keygate
