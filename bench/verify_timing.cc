// bench/verify_timing.cc: a dudect-style timing test of Store::Verify.
//
// Does the time Verify takes tell an attacker anything? For each pair of
// input classes below, the samples of the two classes are interleaved in a
// random order (a fresh coin flip per measurement, so drift in the machine
// hits both alike), each Verify is timed with the cycle counter, and Welch's
// t statistic compares the two timing distributions, over all samples and
// after cropping the slow tail at several percentiles of the pooled
// distribution (dudect: Reparaz, Balasch, Verbauwhede, "Dude, is my code
// constant time?", DATE 2017). The target is dudect's own threshold: |t|
// below 4.5 ("no leakage detected"); dudect reads |t| > 10 as "definitely
// not constant time".
//
//   (a) near-miss vs unknown: a stored token with one secret character
//       changed and its checksum recomputed (well-formed), against a fresh
//       random well-formed token. Both are "unknown"; a difference would
//       leak how close a guess is.
//   (b) revoked vs unknown: neither digest is in the verify index (revoked
//       tokens live in the RevokedDigestSet); both take an absent probe of
//       the index and one constant-work probe of the set (two whole buckets
//       read, every slot compared), and Verify selects the failure without
//       an early return.
//   (c) hit vs near-miss, for information: success returns a Principal, a
//       different amount of work, and is not expected to be close.
//
// Not run by ctest. Usage: keygate_verify_timing [samples per pair]
// (default 1000000) [tokens] (default 10000) [revoked percent] (default
// 10); pepper algorithm sha256, as `keygate init` writes. The control line
// (ctl) shows the floor of (b) at these sizes: with 1000 revoked tokens,
// inputs' fixed costs alone reach |t| ~15; 100000 tokens, 50% revoked,
// brings it near 4.5. Prints one line per pair:
// the t over all samples, per crop percentile, and the largest |t|.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "keygate/keygate.h"
#include "lib/token/crc32c.h"
#include "lib/token/codec.h"

namespace {

constexpr char kAlphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr char kPrefix[] = "kg_";
constexpr size_t kPrefixSize = sizeof(kPrefix) - 1;
constexpr int kAccounts = 100;
constexpr int kMinTokens = 10;
// dudect's threshold: below it, no leak is detected at this sample size.
constexpr double kTargetT = 4.5;

// Ticks reads a serialized cycle counter (ns from steady_clock elsewhere).
inline uint64_t Ticks() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned int aux;
  _mm_lfence();
  const uint64_t t = __rdtscp(&aux);
  _mm_lfence();
  return t;
#else
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
#endif
}

// WithChecksum rewrites the 6 checksum characters of `token` to match the
// rest, as lib/token/codec.cc does (CRC-32C, base62, most significant first).
void WithChecksum(std::string& token) {
  const size_t begin = token.size() - keygate::token::kChecksumChars;
  uint32_t crc = keygate::token::Crc32c(token.data(), begin);
  for (size_t i = token.size(); i-- > begin;) {
    token[i] = kAlphabet[crc % 62];
    crc /= 62;
  }
}

// NearMiss returns `token` with one secret character changed (at a random
// position, to a random different digit), checksum recomputed.
std::string NearMiss(const std::string& token, std::mt19937_64& rng) {
  std::string out = token;
  const size_t secret_begin = kPrefixSize + keygate::token::kPepperIdChars;
  std::uniform_int_distribution<size_t> pos(
      secret_begin, secret_begin + keygate::token::kSecretChars - 1);
  std::uniform_int_distribution<int> digit(1, 61);
  const size_t i = pos(rng);
  const char* at = std::find(kAlphabet, kAlphabet + 62, out[i]);
  out[i] = kAlphabet[((at - kAlphabet) + digit(rng)) % 62];
  WithChecksum(out);
  return out;
}

// Welch accumulates one class's mean and variance (Welford's method).
struct Welch {
  double n = 0, mean = 0, m2 = 0;
  void Push(double x) {
    n += 1;
    const double delta = x - mean;
    mean += delta / n;
    m2 += delta * (x - mean);
  }
  double variance() const { return n > 1 ? m2 / (n - 1) : 0; }
};

double WelchT(const Welch& a, const Welch& b) {
  const double se = std::sqrt(a.variance() / a.n + b.variance() / b.n);
  return se > 0 ? (a.mean - b.mean) / se : 0;
}

// Keeps the verify results observable, so no call is optimized away.
volatile size_t g_sink = 0;

struct Sample {
  uint64_t ticks;
  int cls;
};

// Percentiles of the pooled distribution at which the slow tail is cropped.
constexpr std::array<double, 6> kCrops = {0.50, 0.75, 0.90, 0.95, 0.99, 0.999};

// Measure interleaves Verify over inputs of class 0 and class 1 at random
// and prints Welch's t, uncropped and cropped. Returns the largest |t|.
double Measure(const char* label, keygate::Store& store,
               const std::vector<std::string>& class0,
               const std::vector<std::string>& class1, size_t samples,
               std::mt19937_64& rng) {
  std::bernoulli_distribution coin(0.5);
  std::uniform_int_distribution<size_t> pick0(0, class0.size() - 1);
  std::uniform_int_distribution<size_t> pick1(0, class1.size() - 1);
  // Decide every class and input beforehand, so the measured loop does
  // the same work whatever the class.
  std::vector<int> classes(samples);
  std::vector<const std::string*> inputs(samples);
  for (size_t i = 0; i < samples; ++i) {
    classes[i] = coin(rng) ? 1 : 0;
    inputs[i] = classes[i] ? &class1[pick1(rng)] : &class0[pick0(rng)];
  }
  std::vector<Sample> measured(samples);
  size_t sink = 0;
  for (size_t i = 0; i < samples; ++i) {
    const std::string_view token = *inputs[i];
    const uint64_t start = Ticks();
    const absl::StatusOr<keygate::Principal> result = store.Verify(token);
    const uint64_t end = Ticks();
    sink += result.ok();
    measured[i] = {end - start, classes[i]};
  }
  // The first 10% warm caches and branch predictors: dropped.
  measured.erase(measured.begin(), measured.begin() + samples / 10);

  std::vector<uint64_t> sorted(measured.size());
  for (size_t i = 0; i < measured.size(); ++i) sorted[i] = measured[i].ticks;
  std::sort(sorted.begin(), sorted.end());
  auto percentile = [&](double p) {
    return sorted[std::min(sorted.size() - 1,
                           static_cast<size_t>(p * sorted.size()))];
  };

  std::array<Welch, 2> all;
  std::array<std::array<Welch, 2>, kCrops.size()> cropped;
  std::array<uint64_t, kCrops.size()> limits;
  for (size_t c = 0; c < kCrops.size(); ++c) limits[c] = percentile(kCrops[c]);
  for (const Sample& s : measured) {
    all[s.cls].Push(static_cast<double>(s.ticks));
    for (size_t c = 0; c < kCrops.size(); ++c) {
      if (s.ticks < limits[c]) cropped[c][s.cls].Push(static_cast<double>(s.ticks));
    }
  }
  double max_abs = std::fabs(WelchT(all[0], all[1]));
  std::printf("%-28s n=%zu/%zu mean=%.0f/%.0f median=%llu ticks  t(all)=%+.2f",
              label, static_cast<size_t>(all[0].n),
              static_cast<size_t>(all[1].n), all[0].mean, all[1].mean,
              static_cast<unsigned long long>(percentile(0.5)),
              WelchT(all[0], all[1]));
  for (size_t c = 0; c < kCrops.size(); ++c) {
    const double t = WelchT(cropped[c][0], cropped[c][1]);
    max_abs = std::max(max_abs, std::fabs(t));
    std::printf("  t(<p%g)=%+.2f", kCrops[c] * 100, t);
  }
  g_sink = g_sink + sink;
  std::printf("  max|t|=%.2f\n", max_abs);
  return max_abs;
}

int Run(size_t samples, int tokens, int revoked_percent) {
  char tmpl[] = "/tmp/keygate-verify-timing-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "mkdtemp failed\n");
    return 1;
  }
  const std::string dir = tmpl;
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};

  keygate::Options options;
  options.path = dir + "/store";
  options.sync_writes = false;
  absl::StatusOr<std::shared_ptr<const keygate::Keyring>> keyring =
      keygate::Keyring::Parse(
          "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f "
          "sha256\n");
  if (!keyring.ok()) {
    std::fprintf(stderr, "keyring: %s\n", keyring.status().ToString().c_str());
    return 1;
  }
  options.keyring = *keyring;
  absl::StatusOr<std::unique_ptr<keygate::Store>> opened =
      keygate::Store::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  keygate::Store& store = **opened;

  // The store: `tokens` tokens over kAccounts accounts, each revoked with
  // probability revoked_percent% (at random: a regular pattern would also
  // lay the revoked tokens' records out in a pattern, e.g. every 10th 48-byte
  // record straddles cache lines twice as often as a random one).
  std::vector<std::string> active, revoked;
  std::mt19937_64 layout_rng(1130);
  std::bernoulli_distribution revoke(revoked_percent / 100.0);
  for (int a = 0; a < kAccounts; ++a) {
    keygate::ServiceAccountSpec spec;
    spec.name = "timing " + std::to_string(a);
    spec.slug = "acct-" + std::to_string(a);
    if (auto s = store.CreateServiceAccount("org", spec, "bench"); !s.ok()) {
      std::fprintf(stderr, "account: %s\n", s.status().ToString().c_str());
      return 1;
    }
  }
  for (int i = 0; i < tokens; ++i) {
    keygate::TokenSpec spec;
    spec.name = "t" + std::to_string(i);
    spec.slug = spec.name;
    spec.scopes = {"read:tokens"};
    const std::string account = "acct-" + std::to_string(i % kAccounts);
    absl::StatusOr<keygate::CreatedToken> created =
        store.CreateToken("org", account, spec, "bench");
    if (!created.ok()) {
      std::fprintf(stderr, "create: %s\n", created.status().ToString().c_str());
      return 1;
    }
    if (revoke(layout_rng) || (i == tokens - 1 && revoked.empty())) {
      if (absl::Status s = store.RevokeToken("org", account, spec.name, "bench");
          !s.ok()) {
        std::fprintf(stderr, "revoke: %s\n", s.ToString().c_str());
        return 1;
      }
      revoked.emplace_back(created->value.view());
    } else {
      active.emplace_back(created->value.view());
    }
  }

  std::mt19937_64 rng(20261130);
  keygate::token::TokenCodec codec(kPrefix);
  std::vector<std::string> unknown, near_miss;
  for (size_t i = 0; i < active.size(); ++i) {
    near_miss.push_back(NearMiss(active[i], rng));
  }
  // Enough unknown tokens for (a) and for two disjoint sets of the revoked
  // set's size (b, and the control).
  while (unknown.size() < std::max(active.size(), 2 * revoked.size())) {
    unknown.emplace_back(codec.Generate(1).view());
  }

  // Every input is what its class says, or the measurement means nothing.
  auto expect = [&](const std::vector<std::string>& inputs,
                    keygate::VerifyFailure want, const char* what) {
    for (const std::string& t : inputs) {
      absl::StatusOr<keygate::Principal> v = store.Verify(t);
      const keygate::VerifyFailure got =
          v.ok() ? keygate::VerifyFailure::kNone
                 : keygate::VerifyFailureOf(v.status());
      if (got != want) {
        std::fprintf(stderr, "a %s input verified as %s\n", what,
                     std::string(keygate::VerifyFailureName(got)).c_str());
        return false;
      }
    }
    return true;
  };
  if (!expect(active, keygate::VerifyFailure::kNone, "hit") ||
      !expect(revoked, keygate::VerifyFailure::kRevoked, "revoked") ||
      !expect(unknown, keygate::VerifyFailure::kUnknown, "unknown") ||
      !expect(near_miss, keygate::VerifyFailure::kUnknown, "near-miss")) {
    return 1;
  }

  std::printf("keygate verify timing: %d tokens (%zu revoked), %zu samples "
              "per pair, %s, first 10%% dropped\n",
              tokens, revoked.size(), samples,
#if defined(__x86_64__) || defined(__i386__)
              "rdtscp ticks"
#else
              "steady_clock ns"
#endif
  );
  // Pairs compare sets of the same size (a class with more distinct inputs
  // spreads over more cache lines, which by itself shows in t), and copies
  // of their token strings made alternately, so both classes' strings sit
  // alike in the heap (revoked tokens' strings were allocated between the
  // store's own allocations, unknown ones back to back: reading the token
  // alone then differs).
  auto pair = [](const std::vector<std::string>& x,
                 const std::vector<std::string>& y, size_t y_begin,
                 std::vector<std::string>* x_out,
                 std::vector<std::string>* y_out) {
    for (size_t i = 0; i < x.size(); ++i) {
      x_out->push_back(x[i]);
      y_out->push_back(y[y_begin + i]);
    }
  };
  std::vector<std::string> a0, a1, b0, b1, ctl0, ctl1;
  pair(near_miss, unknown, 0, &a0, &a1);
  pair(revoked, unknown, 0, &b0, &b1);
  pair(std::vector<std::string>(unknown.begin() + revoked.size(),
                                unknown.begin() + 2 * revoked.size()),
       unknown, 0, &ctl0, &ctl1);
  const double a =
      Measure("(a) near-miss vs unknown", store, a0, a1, samples, rng);
  const double b =
      Measure("(b) revoked vs unknown", store, b0, b1, samples, rng);
  // The control: two disjoint sets of unknown tokens, same sizes as (b).
  // What |t| it shows comes from the fixed cost of each input (where its
  // buckets and records sit) and the machine's noise, not from revoked vs
  // unknown; (b) cannot be read more finely than this. More tokens (more
  // inputs) lower it.
  Measure("(ctl) unknown vs unknown [info]", store, ctl0, ctl1, samples, rng);
  Measure("(c) hit vs near-miss [info]", store, active, near_miss, samples, rng);
  const bool met = a < kTargetT && b < kTargetT;
  std::printf("target |t| < %.1f for (a) and (b): %s\n", kTargetT,
              met ? "met" : "NOT met");
  if (absl::Status s = store.Close(); !s.ok()) {
    std::fprintf(stderr, "close: %s\n", s.ToString().c_str());
    return 1;
  }
  return met ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  size_t samples = 1000000;
  int tokens = 10000;
  int revoked_percent = 10;
  if (argc > 1) samples = std::strtoull(argv[1], nullptr, 10);
  if (argc > 2) tokens = std::atoi(argv[2]);
  if (argc > 3) revoked_percent = std::atoi(argv[3]);
  if (samples < 1000 || tokens < kMinTokens || revoked_percent < 1 ||
      revoked_percent > 50) {
    std::fprintf(stderr,
                 "usage: %s [samples per pair >= 1000] [tokens >= %d] "
                 "[revoked percent, 1-50]\n",
                 argv[0], kMinTokens);
    return 2;
  }
  return Run(samples, tokens, revoked_percent);
}
