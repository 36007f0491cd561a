// fuzz/store_cursor_fuzzer.cc: DecodeCursor (lib/store/cursor) on hostile
// cursor strings, as a client sends them in `?cursor=`.
//
// Invariants checked on every input:
//   - no crash or out-of-bounds read (ASan);
//   - a cursor longer than kMaxCursorSize is refused;
//   - an accepted cursor is accepted for exactly one kind, and is the
//     canonical EncodeCursor of the position it decodes to;
//   - EncodeCursor(kind, p) decodes back to p for that kind only (checked on
//     the raw input bytes used as a position).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "lib/store/cursor.h"

namespace {

using keygate::fuzz::FuzzCheck;
using keygate::store::CursorKind;
using keygate::store::DecodeCursor;
using keygate::store::EncodeCursor;
using keygate::store::kMaxCursorSize;

constexpr size_t kMaxInputSize = 2 * kMaxCursorSize;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  const std::string input(reinterpret_cast<const char*>(data), size);

  const std::optional<std::string> as_accounts =
      DecodeCursor(CursorKind::kServiceAccounts, input);
  const std::optional<std::string> as_tokens =
      DecodeCursor(CursorKind::kTokens, input);
  if (input.size() > kMaxCursorSize) {
    FuzzCheck(!as_accounts && !as_tokens, "oversized cursor refused");
  }
  FuzzCheck(!(as_accounts && as_tokens), "a cursor has one kind");
  if (as_accounts) {
    FuzzCheck(!as_accounts->empty(), "decoded position is not empty");
    FuzzCheck(EncodeCursor(CursorKind::kServiceAccounts, *as_accounts) ==
                  input,
              "accepted cursor is canonical");
  }
  if (as_tokens) {
    FuzzCheck(!as_tokens->empty(), "decoded position is not empty");
    FuzzCheck(EncodeCursor(CursorKind::kTokens, *as_tokens) == input,
              "accepted cursor is canonical");
  }

  // The input as a position: encode, decode, compare.
  if (!input.empty()) {
    for (CursorKind kind : {CursorKind::kServiceAccounts, CursorKind::kTokens}) {
      const std::string cursor = EncodeCursor(kind, input);
      const std::optional<std::string> back = DecodeCursor(kind, cursor);
      const CursorKind other = kind == CursorKind::kTokens
                                   ? CursorKind::kServiceAccounts
                                   : CursorKind::kTokens;
      FuzzCheck(!DecodeCursor(other, cursor), "cursor of another kind refused");
      if (cursor.size() <= kMaxCursorSize) {
        FuzzCheck(back && *back == input, "cursor round-trips");
      } else {
        FuzzCheck(!back, "oversized encoded cursor refused");
      }
    }
  }
  return 0;
}
