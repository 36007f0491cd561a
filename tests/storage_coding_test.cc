// tests/storage_coding_test.cc: varints, length-prefixed fields and
// big-endian fixed64, and the Decoder's refusal of malformed input.
#include "lib/storage/coding.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace keygate::storage {
namespace {

std::string Varint(uint32_t value) {
  std::string out;
  PutVarint32(&out, value);
  return out;
}

std::string Fixed(uint64_t value) {
  std::string out;
  PutFixed64BigEndian(&out, value);
  return out;
}

TEST(VarintTest, KnownEncodings) {
  EXPECT_EQ(Varint(0), std::string("\x00", 1));
  EXPECT_EQ(Varint(1), "\x01");
  EXPECT_EQ(Varint(127), "\x7f");
  EXPECT_EQ(Varint(128), "\x80\x01");
  EXPECT_EQ(Varint(300), "\xac\x02");
  EXPECT_EQ(Varint(16383), "\xff\x7f");
  EXPECT_EQ(Varint(16384), "\x80\x80\x01");
  EXPECT_EQ(Varint(UINT32_MAX), "\xff\xff\xff\xff\x0f");
}

TEST(VarintTest, RoundTripsBoundaries) {
  const std::vector<uint32_t> values = {
      0,          1,          127,        128,        255,
      256,        16383,      16384,      (1u << 21) - 1, 1u << 21,
      (1u << 28) - 1, 1u << 28, UINT32_MAX - 1, UINT32_MAX};
  for (uint32_t value : values) {
    const std::string encoded = Varint(value);
    Decoder decoder(encoded);
    uint32_t decoded = 0;
    ASSERT_TRUE(decoder.GetVarint32(&decoded)) << value;
    EXPECT_EQ(decoded, value);
    EXPECT_TRUE(decoder.done()) << value;
  }
}

TEST(VarintTest, ConsecutiveValuesDecodeInOrder) {
  std::string encoded;
  for (uint32_t v : {5u, 300u, UINT32_MAX, 0u}) PutVarint32(&encoded, v);
  Decoder decoder(encoded);
  for (uint32_t want : {5u, 300u, UINT32_MAX, 0u}) {
    uint32_t got;
    ASSERT_TRUE(decoder.GetVarint32(&got));
    EXPECT_EQ(got, want);
  }
  EXPECT_TRUE(decoder.done());
}

TEST(VarintTest, RejectsEmptyInput) {
  Decoder decoder("");
  uint32_t value;
  EXPECT_FALSE(decoder.GetVarint32(&value));
}

TEST(VarintTest, RejectsEveryTruncation) {
  for (uint32_t value : {128u, 16384u, 1u << 21, 1u << 28, UINT32_MAX}) {
    const std::string encoded = Varint(value);
    for (size_t n = 0; n < encoded.size(); ++n) {
      Decoder decoder(std::string_view(encoded).substr(0, n));
      uint32_t decoded;
      EXPECT_FALSE(decoder.GetVarint32(&decoded))
          << "value " << value << " cut to " << n << " bytes";
    }
  }
}

TEST(VarintTest, RejectsValuesPastThirtyTwoBits) {
  uint32_t value;
  // 2^32: fifth byte 0x10 carries bit 32.
  Decoder too_big("\x80\x80\x80\x80\x10");
  EXPECT_FALSE(too_big.GetVarint32(&value));
  // Fifth byte with its continuation bit set.
  Decoder continued("\xff\xff\xff\xff\x8f\x01");
  EXPECT_FALSE(continued.GetVarint32(&value));
  // Six or more bytes never decode.
  Decoder six(std::string_view("\x80\x80\x80\x80\x80\x00", 6));
  EXPECT_FALSE(six.GetVarint32(&value));
  const std::string ff(16, '\xff');
  Decoder all_ff(ff);
  EXPECT_FALSE(all_ff.GetVarint32(&value));
}

TEST(VarintTest, OverlongButInRangeEncodingsDecodeToTheSameValue) {
  // The encoder never writes these; the decoder tolerates them because a
  // value, not a spelling, is what a length prefix means. Document it so a
  // change is deliberate.
  uint32_t value;
  Decoder padded_zero(std::string_view("\x80\x00", 2));
  ASSERT_TRUE(padded_zero.GetVarint32(&value));
  EXPECT_EQ(value, 0u);
  Decoder padded_one(std::string_view("\x81\x80\x80\x80\x00", 5));
  ASSERT_TRUE(padded_one.GetVarint32(&value));
  EXPECT_EQ(value, 1u);
}

TEST(LengthPrefixedTest, RoundTripsIncludingEmptyNulAndLarge) {
  const std::vector<std::string> values = {
      "", "a", std::string("\0x\0", 3), std::string(127, 'q'),
      std::string(128, 'r'), std::string(1 << 20, '\xff')};
  std::string encoded;
  for (const std::string& v : values) PutLengthPrefixed(&encoded, v);
  Decoder decoder(encoded);
  for (const std::string& want : values) {
    std::string_view got;
    ASSERT_TRUE(decoder.GetLengthPrefixed(&got));
    EXPECT_EQ(got, want);
  }
  EXPECT_TRUE(decoder.done());
}

TEST(LengthPrefixedTest, RejectsLengthPastEnd) {
  std::string encoded;
  PutLengthPrefixed(&encoded, "hello");
  for (size_t n = 0; n < encoded.size(); ++n) {
    Decoder decoder(std::string_view(encoded).substr(0, n));
    std::string_view value;
    EXPECT_FALSE(decoder.GetLengthPrefixed(&value)) << n;
  }
  // A huge declared length with few bytes behind it.
  Decoder huge("\xff\xff\xff\xff\x0f" "abc");
  std::string_view value;
  EXPECT_FALSE(huge.GetLengthPrefixed(&value));
}

TEST(LengthPrefixedTest, FieldsCannotBeConfused) {
  std::string a, b;
  PutLengthPrefixed(&a, "a");
  PutLengthPrefixed(&a, "bc");
  PutLengthPrefixed(&b, "ab");
  PutLengthPrefixed(&b, "c");
  EXPECT_NE(a, b);
}

TEST(Fixed64Test, BigEndianLayout) {
  EXPECT_EQ(Fixed(0x0102030405060708ull),
            "\x01\x02\x03\x04\x05\x06\x07\x08");
  EXPECT_EQ(Fixed(0), std::string(8, '\0'));
  EXPECT_EQ(Fixed(UINT64_MAX), std::string(8, '\xff'));
}

TEST(Fixed64Test, ByteOrderIsNumericOrder) {
  const std::vector<uint64_t> values = {
      0,    1,    255,  256,  65535, 65536, 1ull << 32, (1ull << 32) + 1,
      1ull << 56, (1ull << 63) - 1, 1ull << 63, UINT64_MAX - 1, UINT64_MAX};
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    EXPECT_LT(Fixed(values[i]), Fixed(values[i + 1]))
        << values[i] << " vs " << values[i + 1];
  }
}

TEST(Fixed64Test, RoundTripsAndRejectsShortInput) {
  for (uint64_t v : std::vector<uint64_t>{0, 1, 0x8000000000000000ull,
                                         0xdeadbeefcafef00dull, UINT64_MAX}) {
    const std::string encoded = Fixed(v);
    Decoder decoder(encoded);
    uint64_t got = 0;
    ASSERT_TRUE(decoder.GetFixed64BigEndian(&got));
    EXPECT_EQ(got, v);
    EXPECT_TRUE(decoder.done());
    for (size_t n = 0; n < 8; ++n) {
      Decoder cut(std::string_view(encoded).substr(0, n));
      EXPECT_FALSE(cut.GetFixed64BigEndian(&got)) << n;
    }
  }
}

TEST(DecoderTest, GetByteAndGetBytes) {
  Decoder decoder("xyz");
  uint8_t byte;
  ASSERT_TRUE(decoder.GetByte(&byte));
  EXPECT_EQ(byte, 'x');
  std::string_view bytes;
  EXPECT_FALSE(decoder.GetBytes(3, &bytes));
  ASSERT_TRUE(decoder.GetBytes(2, &bytes));
  EXPECT_EQ(bytes, "yz");
  EXPECT_TRUE(decoder.done());
  EXPECT_FALSE(decoder.GetByte(&byte));
  ASSERT_TRUE(decoder.GetBytes(0, &bytes));
  EXPECT_TRUE(bytes.empty());
}

TEST(DecoderTest, FailedReadConsumesNothingPastTheEnd) {
  // A failed GetBytes leaves the remaining input where it was, so callers
  // can never read past the end by retrying.
  Decoder decoder("ab");
  std::string_view bytes;
  EXPECT_FALSE(decoder.GetBytes(5, &bytes));
  EXPECT_EQ(decoder.remaining(), "ab");
}

}  // namespace
}  // namespace keygate::storage
