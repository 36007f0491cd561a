#include "lib/store/cursor.h"

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "lib/base/absl_view.h"

namespace keygate::store {

namespace {
constexpr char kCursorVersion = 1;
}  // namespace

std::string EncodeCursor(CursorKind kind, std::string_view position) {
  std::string raw;
  raw.push_back(kCursorVersion);
  raw.push_back(static_cast<char>(kind));
  raw.append(position);
  return absl::WebSafeBase64Escape(AbslView(raw));
}

std::optional<std::string> DecodeCursor(CursorKind kind,
                                        std::string_view cursor) {
  if (cursor.empty() || cursor.size() > kMaxCursorSize) return std::nullopt;
  std::string raw;
  if (!absl::WebSafeBase64Unescape(
          AbslView(cursor), &raw)) {
    return std::nullopt;
  }
  // Only the canonical encoding is accepted.
  if (absl::WebSafeBase64Escape(raw) !=
      AbslView(cursor)) {
    return std::nullopt;
  }
  if (raw.size() < 3 || raw[0] != kCursorVersion ||
      raw[1] != static_cast<char>(kind)) {
    return std::nullopt;
  }
  return raw.substr(2);
}

}  // namespace keygate::store
