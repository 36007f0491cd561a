// lib/store/slugs.h: choosing the slug of a new service account or token.
//
// A slug the caller gives is used as is (a taken one is a conflict); without
// one, a slug is derived from the display name. Whether a slug is taken is
// the caller's question to storage, passed in as `taken`; its errors are
// returned unchanged.
#ifndef KEYGATE_LIB_STORE_SLUGS_H_
#define KEYGATE_LIB_STORE_SLUGS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace keygate::store {

// SlugTaken reports whether a slug is already in use where the new one goes.
using SlugTaken = absl::FunctionRef<absl::StatusOr<bool>(std::string_view slug)>;

// Derived slugs end in '-' and this many random [a-z0-9] characters where
// they need one to be unique.
inline constexpr size_t kSlugSuffixSize = 6;

// ChooseAccountSlug returns `given` if set and free (AlreadyExists naming
// field "slug" if taken), else Slugify(name) + "-" + a random suffix, drawn
// again while taken (Internal after 9 taken draws).
absl::StatusOr<std::string> ChooseAccountSlug(
    std::string_view name, const std::optional<std::string>& given,
    SlugTaken taken);

// ChooseTokenSlug returns `given` if set and free (AlreadyExists naming
// field "slug" if taken), else Slugify(name) if free, else that plus "-" and
// a random suffix, drawn again while taken (Internal after 8 draws).
absl::StatusOr<std::string> ChooseTokenSlug(
    std::string_view name, const std::optional<std::string>& given,
    SlugTaken taken);

// Slugify derives a slug stem from a display name: ASCII letters and digits
// lowercased, every other run turned into one '-', trimmed, at most
// `max_size` chars. Returns `fallback` if fewer than 2 chars remain.
std::string Slugify(std::string_view name, size_t max_size,
                    std::string_view fallback);

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_SLUGS_H_
