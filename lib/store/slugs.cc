// lib/store/slugs.cc: slug derivation and choice for new accounts and tokens.
#include "lib/store/slugs.h"

#include "absl/strings/str_cat.h"
#include "keygate/errors.h"
#include "keygate/validation.h"
#include "lib/crypto/sodium.h"

namespace keygate::store {

namespace {

// The longest stem that leaves room for "-" + suffix within kMaxSlugSize.
constexpr size_t kMaxStemSize = kMaxSlugSize - kSlugSuffixSize - 1;

std::string RandomSlugSuffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string suffix(kSlugSuffixSize, '0');
  for (char& c : suffix) c = kAlphabet[crypto::RandomUniform(36)];
  return suffix;
}

}  // namespace

absl::StatusOr<std::string> ChooseAccountSlug(
    std::string_view name, const std::optional<std::string>& given,
    SlugTaken taken) {
  if (given) {
    absl::StatusOr<bool> is_taken = taken(*given);
    if (!is_taken.ok()) return is_taken.status();
    if (*is_taken) {
      return ConflictError(
          {"slug", "a service account with this slug already exists", *given});
    }
    return *given;
  }
  const std::string stem = Slugify(name, kMaxStemSize, "service-account");
  for (int attempt = 0;; ++attempt) {
    std::string slug = absl::StrCat(stem, "-", RandomSlugSuffix());
    absl::StatusOr<bool> is_taken = taken(slug);
    if (!is_taken.ok()) return is_taken.status();
    if (!*is_taken) return slug;
    if (attempt == 8) {
      return absl::InternalError("could not find a free service account slug");
    }
  }
}

absl::StatusOr<std::string> ChooseTokenSlug(
    std::string_view name, const std::optional<std::string>& given,
    SlugTaken taken) {
  if (given) {
    absl::StatusOr<bool> is_taken = taken(*given);
    if (!is_taken.ok()) return is_taken.status();
    if (*is_taken) {
      return ConflictError(
          {"slug", "a token with this slug already exists", *given});
    }
    return *given;
  }
  const std::string stem = Slugify(name, kMaxStemSize, "token");
  std::string slug = stem;
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<bool> is_taken = taken(slug);
    if (!is_taken.ok()) return is_taken.status();
    if (!*is_taken) return slug;
    if (attempt == 8) {
      return absl::InternalError("could not find a free token slug");
    }
    slug = absl::StrCat(stem, "-", RandomSlugSuffix());
  }
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
