// lib/store/cursor.h: opaque keyset-pagination cursors.
//
// A cursor is base64url(version, list kind, key suffix of the last item
// returned). It names a position, not an offset, so pages stay consistent
// while items are added or removed. A cursor of one kind of list is refused
// by another.
#ifndef KEYGATE_LIB_STORE_CURSOR_H_
#define KEYGATE_LIB_STORE_CURSOR_H_

#include <optional>
#include <string>
#include <string_view>

namespace keygate::store {

enum class CursorKind : char { kServiceAccounts = 'a', kTokens = 't' };

inline constexpr size_t kMaxCursorSize = 512;

std::string EncodeCursor(CursorKind kind, std::string_view position);

// DecodeCursor returns the position, or nullopt if `cursor` is not a cursor
// of `kind` made by EncodeCursor.
std::optional<std::string> DecodeCursor(CursorKind kind,
                                        std::string_view cursor);

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_CURSOR_H_
