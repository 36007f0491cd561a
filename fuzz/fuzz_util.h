// fuzz/fuzz_util.h: helpers shared by the fuzz targets (header-only).
//
// FuzzInput splits the fuzzer's bytes into typed values; TempDir gives every
// stateful run a fresh directory that is removed afterwards; FuzzCheck aborts
// (which libFuzzer and the replay driver both report as a crash) when an
// invariant does not hold. Nothing here prints a token value.
#ifndef KEYGATE_FUZZ_FUZZ_UTIL_H_
#define KEYGATE_FUZZ_FUZZ_UTIL_H_

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "keygate/clock.h"
#include "keygate/keyring.h"

namespace keygate::fuzz {

// FuzzCheck aborts with `what` on stderr when `ok` is false: an invariant of
// the code under test was broken.
inline void FuzzCheck(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

// MessageOf returns `status`'s message as a std::string_view (Debian's
// absl::string_view is its own type); it lives as long as `status`.
inline std::string_view MessageOf(const absl::Status& status) {
  const auto message = status.message();
  return std::string_view(message.data(), message.size());
}

// FuzzInput hands out the fuzzer's bytes as typed values; once the input is
// exhausted every Consume* returns zero/empty. Not thread-safe.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  size_t remaining() const { return rest_.size(); }

  uint8_t ConsumeByte() {
    if (rest_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }

  bool ConsumeBool() { return (ConsumeByte() & 1) != 0; }

  // ConsumeInRange returns a value in [lo, hi] (REQUIRES: lo <= hi, and the
  // range at most 2^16 wide).
  int ConsumeInRange(int lo, int hi) {
    const uint32_t span = static_cast<uint32_t>(hi - lo) + 1;
    uint32_t v = ConsumeByte();
    if (span > 256) v = (v << 8) | ConsumeByte();
    return lo + static_cast<int>(v % span);
  }

  // ConsumeString returns a string of up to `max_size` bytes: a length byte
  // then that many bytes (fewer if the input ends).
  std::string ConsumeString(size_t max_size) {
    size_t n = ConsumeByte();
    if (max_size > 255) n = (n << 8) | ConsumeByte();
    if (n > max_size) n = n % (max_size + 1);
    if (n > rest_.size()) n = rest_.size();
    std::string out(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return out;
  }

  // ConsumeRest returns every byte left.
  std::string_view ConsumeRest() {
    std::string_view out = rest_;
    rest_ = {};
    return out;
  }

 private:
  std::string_view rest_;
};

// TempDir is a fresh directory under $TMPDIR (or /tmp), removed with its
// contents when destroyed. path() is empty if creation failed.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") +
                        "/keygate-fuzz-XXXXXX";
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// FuzzKeyring is a fixed two-pepper keyring (fuzzing only, never a real
// secret). Aborts if the keyring cannot be parsed.
inline std::shared_ptr<const Keyring> FuzzKeyring() {
  auto keyring = Keyring::Parse(
      "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
      "2 a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n");
  FuzzCheck(keyring.ok(), "fixed fuzz keyring parses");
  return *std::move(keyring);
}

// ManualClock is a Clock the fuzzer moves by hand. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keygate::fuzz

#endif  // KEYGATE_FUZZ_FUZZ_UTIL_H_
