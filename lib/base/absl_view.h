// lib/base/absl_view.h: std::string_view -> absl::string_view at the Abseil
// boundary. Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW 0,
// so the two are distinct types and absl::StrCat does not take ours.
#ifndef KEYGATE_LIB_BASE_ABSL_VIEW_H_
#define KEYGATE_LIB_BASE_ABSL_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace keygate {

inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace keygate

#endif  // KEYGATE_LIB_BASE_ABSL_VIEW_H_
