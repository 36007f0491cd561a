// tests/crc32c_test.cc: CRC-32C known answers and agreement of both paths.
#include "lib/token/crc32c.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace keygate::token {
namespace {

using CrcFunction = uint32_t (*)(const void*, size_t) noexcept;

struct Implementation {
  const char* name;
  CrcFunction fn;
  bool needs_hardware;
};

class Crc32cKnownAnswerTest : public ::testing::TestWithParam<Implementation> {
 protected:
  void SetUp() override {
    if (GetParam().needs_hardware &&
        !internal::Crc32cHardwareAvailable()) {
      GTEST_SKIP() << "no SSE4.2 on this CPU";
    }
  }
  uint32_t Crc(const void* data, size_t n) { return GetParam().fn(data, n); }
};

// RFC 3720 (iSCSI) appendix B.4.
TEST_P(Crc32cKnownAnswerTest, Rfc3720Vectors) {
  uint8_t buf[32];
  std::memset(buf, 0, sizeof buf);
  EXPECT_EQ(Crc(buf, sizeof buf), 0x8a9136aau);
  std::memset(buf, 0xff, sizeof buf);
  EXPECT_EQ(Crc(buf, sizeof buf), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc(buf, sizeof buf), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc(buf, sizeof buf), 0x113fdb5cu);
}

TEST_P(Crc32cKnownAnswerTest, CheckString) {
  EXPECT_EQ(Crc("123456789", 9), 0xe3069283u);
}

TEST_P(Crc32cKnownAnswerTest, Empty) {
  EXPECT_EQ(Crc(nullptr, 0), 0u);
  EXPECT_EQ(Crc("", 0), 0u);
}

TEST_P(Crc32cKnownAnswerTest, SameValueAtEveryAlignment) {
  // The 32 ascending bytes, placed at each offset of an aligned buffer.
  alignas(16) uint8_t buf[48];
  for (size_t offset = 0; offset < 16; ++offset) {
    for (int i = 0; i < 32; ++i) buf[offset + i] = static_cast<uint8_t>(i);
    EXPECT_EQ(Crc(buf + offset, 32), 0x46dd794eu) << "offset " << offset;
  }
}

TEST_P(Crc32cKnownAnswerTest, DetectsSingleBitFlips) {
  std::string data = "kg_1abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
  const uint32_t base = Crc(data.data(), data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = data;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      EXPECT_NE(Crc(flipped.data(), flipped.size()), base);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Implementations, Crc32cKnownAnswerTest,
    ::testing::Values(
        Implementation{"Dispatch", &Crc32c, false},
        Implementation{"Portable", &internal::Crc32cPortable, false}
#if defined(__x86_64__)
        ,
        Implementation{"Sse42", &internal::Crc32cSse42, true}
#endif
        ),
    [](const ::testing::TestParamInfo<Implementation>& info) {
      return std::string(info.param.name);
    });

TEST(Crc32cTest, DispatchMatchesPortableOnRandomInputs) {
  std::mt19937_64 rng(20261127);
  std::vector<uint8_t> buf(300 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t n = 0; n <= 300; ++n) {
      const uint8_t* p = buf.data() + offset;
      ASSERT_EQ(Crc32c(p, n), internal::Crc32cPortable(p, n))
          << "offset " << offset << " length " << n;
    }
  }
}

#if defined(__x86_64__)
TEST(Crc32cTest, Sse42MatchesPortableOnRandomInputs) {
  if (!internal::Crc32cHardwareAvailable()) GTEST_SKIP() << "no SSE4.2";
  std::mt19937_64 rng(42);
  std::vector<uint8_t> buf(300 + 16);
  for (int round = 0; round < 4; ++round) {
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    for (size_t offset = 0; offset < 16; ++offset) {
      for (size_t n = 0; n <= 300; ++n) {
        const uint8_t* p = buf.data() + offset;
        ASSERT_EQ(internal::Crc32cSse42(p, n), internal::Crc32cPortable(p, n))
            << "offset " << offset << " length " << n;
      }
    }
  }
}

TEST(Crc32cTest, DispatchUsesHardwareWhenAvailable) {
  // On x86-64 hosts with SSE4.2 (every CI machine we use) the fast path must
  // be selected; this fails if detection silently breaks.
  __builtin_cpu_init();
  EXPECT_EQ(internal::Crc32cHardwareAvailable(),
            __builtin_cpu_supports("sse4.2") != 0);
}
#endif

TEST(Crc32cTest, LargeInput) {
  std::vector<uint8_t> big(1 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  EXPECT_EQ(Crc32c(big.data(), big.size()),
            internal::Crc32cPortable(big.data(), big.size()));
}

}  // namespace
}  // namespace keygate::token
