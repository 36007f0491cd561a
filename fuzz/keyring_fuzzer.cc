// fuzz/keyring_fuzzer.cc: Keyring::Parse on hostile pepper-file text.
//
// Invariants checked on every input:
//   - no crash or out-of-bounds read (ASan), no leak of the sodium_malloc'd
//     key memory (LeakSanitizer);
//   - a failure is InvalidArgument and its message never contains a
//     64-hex-digit run (the key is never echoed);
//   - an accepted keyring has ids ascending, unique, in [1, kMaxPepperId],
//     and active_id() is the highest;
//   - re-parsing the same text gives the same ids (parsing is deterministic).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "keygate/keyring.h"

namespace {

using keygate::Keyring;
using keygate::fuzz::FuzzCheck;

constexpr size_t kMaxInputSize = 8192;

bool HasHexRun(std::string_view s, size_t run) {
  size_t n = 0;
  for (char c : s) {
    n = std::isxdigit(static_cast<unsigned char>(c)) ? n + 1 : 0;
    if (n >= run) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto keyring = Keyring::Parse(text);
  if (!keyring.ok()) {
    FuzzCheck(absl::IsInvalidArgument(keyring.status()),
              "keyring parse failure is InvalidArgument");
    FuzzCheck(!HasHexRun(keygate::fuzz::MessageOf(keyring.status()), 64),
              "keyring error never echoes a key");
    return 0;
  }
  FuzzCheck(*keyring != nullptr, "accepted keyring is not null");
  const std::vector<int> ids = (*keyring)->ids();
  FuzzCheck(!ids.empty(), "accepted keyring has a pepper");
  for (size_t i = 0; i < ids.size(); ++i) {
    FuzzCheck(ids[i] >= 1 && ids[i] <= Keyring::kMaxPepperId,
              "pepper id in range");
    if (i > 0) FuzzCheck(ids[i - 1] < ids[i], "pepper ids ascending, unique");
  }
  FuzzCheck((*keyring)->active_id() == ids.back(),
            "active pepper is the highest id");
  const auto again = Keyring::Parse(text);
  FuzzCheck(again.ok() && (*again)->ids() == ids, "parse is deterministic");
  return 0;
}
