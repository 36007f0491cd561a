#include "lib/store/validation.h"

#include "absl/strings/str_cat.h"

namespace keygate::store {

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      extra = 1, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

bool HasControlCharacter(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
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
