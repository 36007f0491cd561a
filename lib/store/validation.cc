#include "lib/store/validation.h"

#include "absl/strings/str_cat.h"
#include "lib/base/utf8.h"

namespace keygate::store {

bool IsValidUtf8(std::string_view s) { return utf8::IsValid(s); }

bool HasControlCharacter(std::string_view s) {
  return utf8::HasUnsafeCodePoint(s);
}

bool IsValidSlug(std::string_view slug) {
  if (slug.size() < kMinSlugSize || slug.size() > kMaxSlugSize) return false;
  for (char c : slug) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return slug.front() != '-' && slug.back() != '-';
}

namespace {

void Add(std::vector<FieldError>& errors, std::string_view field,
         std::string message, std::string_view value) {
  errors.push_back(
      FieldError{std::string(field), std::move(message), SafeValue(value)});
}

// CheckText applies the rules shared by identities and names; returns false
// if it added an error.
bool CheckText(std::string_view field, std::string_view value, size_t max,
               std::vector<FieldError>& errors) {
  if (value.empty()) {
    Add(errors, field, "must not be empty", value);
    return false;
  }
  if (value.size() > max) {
    Add(errors, field, absl::StrCat("must be at most ", max, " bytes"), value);
    return false;
  }
  if (!IsValidUtf8(value)) {
    Add(errors, field, "must be valid UTF-8", value);
    return false;
  }
  if (HasControlCharacter(value)) {
    Add(errors, field, "must not contain control characters", value);
    return false;
  }
  return true;
}

}  // namespace

void CheckIdentity(std::string_view field, std::string_view value,
                   std::vector<FieldError>& errors) {
  CheckText(field, value, kMaxIdentitySize, errors);
}

void CheckName(std::string_view field, std::string_view value,
               std::vector<FieldError>& errors) {
  if (!CheckText(field, value, kMaxNameSize, errors)) return;
  if (value.find_first_not_of(' ') == std::string_view::npos) {
    Add(errors, field, "must not be only spaces", value);
  }
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

std::string Slugify(std::string_view name, size_t max_size,
                    std::string_view fallback) {
  std::string slug;
  bool pending_dash = false;
  for (char c : name) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if ((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9')) {
      if (pending_dash && !slug.empty()) slug.push_back('-');
      pending_dash = false;
      slug.push_back(lower);
    } else {
      pending_dash = true;
    }
    if (slug.size() >= max_size) break;
  }
  if (slug.size() > max_size) slug.resize(max_size);
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  if (slug.size() < kMinSlugSize) return std::string(fallback);
  return slug;
}

}  // namespace keygate::store
