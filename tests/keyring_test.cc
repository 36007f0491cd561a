// tests/keyring_test.cc: pepper keyring parsing, loading and file commands.
#include "keygate/keyring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/crypto/keyring_keys.h"

namespace keygate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHex1[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kHex2[] =
    "AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00112233445566778899";
constexpr char kHex3[] =
    "5f3e2d1c0b0a99887766554433221100ffeeddccbbaa99887766554433221100";

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// KeyOf reads key bytes the way keygate's digest code does (Keyring::key is
// not public).
const uint8_t* KeyOf(const Keyring& keyring, int id) {
  return crypto::KeyringKeys::Key(keyring, id);
}

// ExpectNoKeyMaterial asserts the message quotes no key and no long hex run.
void ExpectNoKeyMaterial(const absl::Status& status,
                         const std::vector<std::string>& keys) {
  const std::string msg = Msg(status);
  for (const std::string& key : keys) {
    EXPECT_THAT(msg, Not(HasSubstr(key)));
    // Nor any 16-char window of it.
    for (size_t i = 0; i + 16 <= key.size(); i += 8) {
      EXPECT_THAT(msg, Not(HasSubstr(key.substr(i, 16)))) << msg;
    }
  }
  size_t run = 0;
  for (char c : msg) {
    run = std::isxdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
    EXPECT_LT(run, 16u) << "hex run in: " << msg;
  }
}

class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "keyring_test.XXXXXX")
            .string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const {
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text,
               mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HexOf(const uint8_t* key) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < Keyring::kKeySize; ++i) {
    out.push_back(digits[key[i] >> 4]);
    out.push_back(digits[key[i] & 15]);
  }
  return out;
}

TEST(KeyringParseTest, ParsesAGoodFile) {
  const std::string text = std::string("# keygate peppers\n\n") +
                           "1 " + kHex1 + "\n" +
                           "  3\t" + kHex3 + "   # the newest\r\n" +
                           "2 " + kHex2 + "\n";
  auto keyring = Keyring::Parse(text);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_THAT((*keyring)->ids(), ElementsAre(1, 2, 3));
  EXPECT_EQ((*keyring)->active_id(), 3);
  ASSERT_NE(KeyOf(**keyring, 1), nullptr);
  EXPECT_EQ(HexOf(KeyOf(**keyring, 1)), kHex1);
  EXPECT_EQ(HexOf(KeyOf(**keyring, 2)), "aabbccddeeff00112233445566778899"
                                       "aabbccddeeff00112233445566778899");
  EXPECT_EQ(HexOf(KeyOf(**keyring, 3)), kHex3);
  EXPECT_EQ(KeyOf(**keyring, 0), nullptr);
  EXPECT_EQ(KeyOf(**keyring, 4), nullptr);
  EXPECT_EQ(KeyOf(**keyring, 61), nullptr);
  EXPECT_EQ(KeyOf(**keyring, 62), nullptr);
  EXPECT_EQ(KeyOf(**keyring, -1), nullptr);
}

TEST(KeyringParseTest, NoTrailingNewlineAndHighIds) {
  auto keyring = Keyring::Parse(std::string("61 ") + kHex1);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_THAT((*keyring)->ids(), ElementsAre(61));
  EXPECT_EQ((*keyring)->active_id(), 61);
}

TEST(KeyringParseTest, EmptyOrCommentOnlyIsInvalid) {
  for (const std::string text :
       {std::string(""), std::string("\n\n"), std::string("# nothing\n"),
        std::string("   \t\n# 1 ") + kHex1 + "\n"}) {
    auto keyring = Keyring::Parse(text);
    ASSERT_FALSE(keyring.ok());
    EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(keyring.status()), HasSubstr("no pepper"));
  }
}

struct BadLine {
  std::string line;
  std::string expected;  // substring of the message
};

TEST(KeyringParseTest, BadLinesNameTheLineAndNeverTheKey) {
  const std::string good = std::string("1 ") + kHex1 + "\n";
  const std::vector<BadLine> cases = {
      {std::string("0 ") + kHex2, "out of range"},
      {std::string("62 ") + kHex2, "out of range"},
      {std::string("99 ") + kHex2, "out of range"},
      {std::string("100 ") + kHex2, "expected"},
      {std::string("-2 ") + kHex2, "expected"},
      {std::string("+2 ") + kHex2, "expected"},
      {std::string("x ") + kHex2, "expected"},
      {std::string("2") + kHex2, "expected"},
      {std::string(kHex2), "expected"},
      {"2", "expected"},
      {"2 ", "hex digits"},
      {std::string("2 ") + std::string(kHex2).substr(0, 63), "hex digits"},
      {std::string("2 ") + kHex2 + "0", "hex digits"},
      {std::string("2 ") + kHex2 + " extra", "hex digits"},
      {std::string("2 ") + std::string(kHex2).substr(0, 63) + "g",
       "non-hex"},
      {std::string("2 ") + std::string(kHex2).substr(0, 32) + " " +
           std::string(kHex2).substr(32),
       "hex digits"},
      {std::string("2 ") + std::string(kHex2).substr(0, 40) + '\0' +
           std::string(kHex2).substr(41),
       "non-hex"},
      {std::string("2 ") + std::string(kHex2).substr(0, 62) + "\xc3\xa9",
       "non-hex"},
      {std::string("2 ") + std::string(kHex2).substr(0, 63) + "\xff",
       "non-hex"},
  };
  for (const BadLine& c : cases) {
    const std::string text = "# header\n" + good + "\n" + c.line + "\n";
    auto keyring = Keyring::Parse(text);
    ASSERT_FALSE(keyring.ok()) << "accepted: " << c.line;
    EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(keyring.status()), HasSubstr("line 4"));
    EXPECT_THAT(Msg(keyring.status()), HasSubstr(c.expected)) << c.line;
    ExpectNoKeyMaterial(keyring.status(), {kHex1, kHex2});
  }
}

TEST(KeyringParseTest, DuplicateIdsAreRejected) {
  const std::string text = std::string("1 ") + kHex1 + "\n" + "2 " + kHex2 +
                           "\n" + "1 " + kHex3 + "\n";
  auto keyring = Keyring::Parse(text);
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(keyring.status()), HasSubstr("line 3"));
  EXPECT_THAT(Msg(keyring.status()), HasSubstr("duplicate pepper id 1"));
  ExpectNoKeyMaterial(keyring.status(), {kHex1, kHex2, kHex3});
}

TEST(KeyringParseTest, HugeAndBinaryInputFailsCleanly) {
  const std::string big(1 << 20, 'x');
  auto keyring = Keyring::Parse(big);
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(keyring.status()), HasSubstr("line 1"));

  std::string binary;
  for (int i = 0; i < 4096; ++i) binary.push_back(static_cast<char>(i * 37));
  EXPECT_FALSE(Keyring::Parse(binary).ok());
  EXPECT_FALSE(Keyring::Parse(std::string(100, '\0')).ok());
}

TEST(KeyringParseTest, AllSixtyOneIds) {
  std::string text;
  for (int id = 1; id <= 61; ++id) {
    text += std::to_string(id) + " " + kHex1 + "\n";
  }
  auto keyring = Keyring::Parse(text);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_EQ((*keyring)->ids().size(), 61u);
  EXPECT_EQ((*keyring)->active_id(), 61);
}

TEST(KeyringLoadTest, LoadsAPrivateFile) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  WriteFile(path, std::string("1 ") + kHex1 + "\n2 " + kHex2 + "\n", 0600);
  auto keyring = Keyring::Load(path);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_THAT((*keyring)->ids(), ElementsAre(1, 2));
  EXPECT_EQ((*keyring)->active_id(), 2);
  EXPECT_EQ(HexOf(KeyOf(**keyring, 1)), kHex1);
}

TEST(KeyringLoadTest, ReadOnlyOwnerModeIsAccepted) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  WriteFile(path, std::string("1 ") + kHex1 + "\n", 0400);
  EXPECT_TRUE(Keyring::Load(path).ok());
}

TEST(KeyringLoadTest, GroupOrWorldAccessIsRefused) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  for (mode_t mode : {0644, 0640, 0604, 0660, 0606, 0610, 0601}) {
    WriteFile(path, std::string("1 ") + kHex1 + "\n", mode);
    auto keyring = Keyring::Load(path);
    ASSERT_FALSE(keyring.ok()) << std::oct << mode;
    EXPECT_EQ(keyring.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(Msg(keyring.status()), HasSubstr("chmod 600"));
    ExpectNoKeyMaterial(keyring.status(), {kHex1});
  }
}

TEST(KeyringLoadTest, MissingFileIsNotFound) {
  TempDir dir;
  auto keyring = Keyring::Load(dir.File("absent"));
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Keyring::Load(dir.File("absent/deeper")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KeyringLoadTest, BadPathsAreInvalidArgument) {
  TempDir dir;
  const std::string real = dir.File("pepper");
  WriteFile(real, std::string("1 ") + kHex1 + "\n", 0600);
  // A NUL byte would make the C API open `real`: refuse instead.
  const std::string with_nul = real + std::string("\0.bak", 5);
  EXPECT_EQ(Keyring::Load(with_nul).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keyring::CreateFile(with_nul).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keyring::RotateFile(with_nul).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keyring::Load("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keyring::CreateFile("").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keyring::RotateFile("").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Invalid UTF-8 in a path is just bytes to the OS: a clean NotFound.
  EXPECT_EQ(Keyring::Load(dir.File("\xff\xfe")).status().code(),
            absl::StatusCode::kNotFound);
  // A 1 MiB path is refused cleanly by the OS.
  EXPECT_FALSE(Keyring::Load(std::string(1 << 20, 'a')).ok());
}

TEST(KeyringLoadTest, DirectoryIsRefused) {
  TempDir dir;
  const std::string path = dir.File("d");
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0);
  auto keyring = Keyring::Load(path);
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keyring::RotateFile(path).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeyringLoadTest, MalformedFileErrorNamesLineNotKey) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  WriteFile(path,
            std::string("1 ") + kHex1 + "\n1 " + kHex2 + "\n3 " +
                std::string(kHex3).substr(0, 60) + "\n",
            0600);
  auto keyring = Keyring::Load(path);
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(keyring.status()), HasSubstr("line 2"));
  EXPECT_THAT(Msg(keyring.status()), HasSubstr(path));
  ExpectNoKeyMaterial(keyring.status(), {kHex1, kHex2, kHex3});
}

TEST(KeyringLoadTest, OversizedFileIsRefused) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  WriteFile(path, std::string("1 ") + kHex1 + "\n" + std::string(1 << 20, '#'),
            0600);
  auto keyring = Keyring::Load(path);
  ASSERT_FALSE(keyring.ok());
  EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
  ExpectNoKeyMaterial(keyring.status(), {kHex1});
}

TEST(KeyringFileTest, CreateFileThenLoad) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  ASSERT_TRUE(Keyring::CreateFile(path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = ReadFile(path);
  EXPECT_EQ(text.rfind("# keygate pepper keyring", 0), 0u) << "header";
  auto keyring = Keyring::Load(path);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_THAT((*keyring)->ids(), ElementsAre(1));
  EXPECT_EQ((*keyring)->active_id(), 1);
  const std::string hex = HexOf(KeyOf(**keyring, 1));
  // New peppers are written with the SHA-256 digest algorithm.
  EXPECT_THAT(text, HasSubstr("\n1 " + hex + " sha256\n"));
  EXPECT_EQ((*keyring)->algorithm(1), DigestAlgorithm::kSha256KeyBlock);
  EXPECT_NE(hex, std::string(64, '0'));
}

TEST(KeyringFileTest, CreateFileMakesDistinctKeys) {
  TempDir dir;
  ASSERT_TRUE(Keyring::CreateFile(dir.File("a")).ok());
  ASSERT_TRUE(Keyring::CreateFile(dir.File("b")).ok());
  auto a = Keyring::Load(dir.File("a"));
  auto b = Keyring::Load(dir.File("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(HexOf(KeyOf(**a, 1)), HexOf(KeyOf(**b, 1)));
}

TEST(KeyringFileTest, CreateFileRefusesExistingFile) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  ASSERT_TRUE(Keyring::CreateFile(path).ok());
  const std::string before = ReadFile(path);
  const absl::Status again = Keyring::CreateFile(path);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), before);  // untouched
}

TEST(KeyringFileTest, CreateFileInMissingDirectoryIsNotFound) {
  TempDir dir;
  EXPECT_EQ(Keyring::CreateFile(dir.File("no/such/pepper")).code(),
            absl::StatusCode::kNotFound);
}

TEST(KeyringFileTest, RotateKeepsOldIdsAndActivatesTheNewOne) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  ASSERT_TRUE(Keyring::CreateFile(path).ok());
  auto before = Keyring::Load(path);
  ASSERT_TRUE(before.ok());
  const std::string key1 = HexOf(KeyOf(**before, 1));

  auto id = Keyring::RotateFile(path);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 2);
  auto after = Keyring::Load(path);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT((*after)->ids(), ElementsAre(1, 2));
  EXPECT_EQ((*after)->active_id(), 2);
  EXPECT_EQ(HexOf(KeyOf(**after, 1)), key1);
  EXPECT_NE(HexOf(KeyOf(**after, 2)), key1);

  auto id3 = Keyring::RotateFile(path);
  ASSERT_TRUE(id3.ok());
  EXPECT_EQ(*id3, 3);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(KeyringTest, AlgorithmFieldIsOptionalAndDefaultsToBlake2b) {
  auto keyring = Keyring::Parse(std::string("1 ") + kHex1 + "\n2 " + kHex2 +
                                " sha256\n3 " + kHex3 + "\tblake2b  # old\n");
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_EQ((*keyring)->algorithm(1), DigestAlgorithm::kBlake2bKeyed);
  EXPECT_EQ((*keyring)->algorithm(2), DigestAlgorithm::kSha256KeyBlock);
  EXPECT_EQ((*keyring)->algorithm(3), DigestAlgorithm::kBlake2bKeyed);
  EXPECT_EQ(HexOf(KeyOf(**keyring, 2)),
            "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899");
  EXPECT_EQ(DigestAlgorithmName(DigestAlgorithm::kSha256KeyBlock), "sha256");
  EXPECT_EQ(DigestAlgorithmName(DigestAlgorithm::kBlake2bKeyed), "blake2b");
}

TEST(KeyringTest, UnknownAlgorithmIsRefusedWithoutQuotingTheLine) {
  for (const std::string alg :
       {"SHA256", "sha512", "blake2b sha256", "sha256x", "\xff"}) {
    auto keyring = Keyring::Parse(std::string("1 ") + kHex1 + "\n2 " + kHex2 +
                                  " " + alg + "\n");
    ASSERT_FALSE(keyring.ok()) << alg;
    EXPECT_EQ(keyring.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(keyring.status()), HasSubstr("line 2"));
    EXPECT_THAT(Msg(keyring.status()), HasSubstr("algorithm"));
    EXPECT_THAT(Msg(keyring.status()), Not(HasSubstr(alg)));
    ExpectNoKeyMaterial(keyring.status(), {kHex1, kHex2});
  }
}

TEST(KeyringFileTest, RotateWritesSha256AndKeepsOldAlgorithms) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  WriteFile(path, std::string("1 ") + kHex1 + "\n", 0600);  // the old format
  auto id = Keyring::RotateFile(path);
  ASSERT_TRUE(id.ok()) << id.status();
  auto keyring = Keyring::Load(path);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_EQ((*keyring)->algorithm(1), DigestAlgorithm::kBlake2bKeyed);
  EXPECT_EQ((*keyring)->algorithm(2), DigestAlgorithm::kSha256KeyBlock);
  EXPECT_THAT(ReadFile(path), HasSubstr(std::string("1 ") + kHex1 + "\n2 "));
}

TEST(KeyringFileTest, RotateUsesMaxPlusOneAndHandlesMissingNewline) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  WriteFile(path, std::string("7 ") + kHex1 + "\n3 " + kHex2, 0600);
  auto id = Keyring::RotateFile(path);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 8);
  auto keyring = Keyring::Load(path);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_THAT((*keyring)->ids(), ElementsAre(3, 7, 8));
  EXPECT_EQ(HexOf(KeyOf(**keyring, 3)),
            "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899");
}

TEST(KeyringFileTest, RotateBeyondSixtyOneIsResourceExhausted) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  WriteFile(path, std::string("61 ") + kHex1 + "\n", 0600);
  const std::string before = ReadFile(path);
  auto id = Keyring::RotateFile(path);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadFile(path), before);
}

TEST(KeyringFileTest, RotateRefusesBadFiles) {
  TempDir dir;
  const std::string path = dir.File("pepper");
  EXPECT_EQ(Keyring::RotateFile(path).status().code(),
            absl::StatusCode::kNotFound);
  WriteFile(path, std::string("1 ") + kHex1 + "\n", 0644);
  auto id = Keyring::RotateFile(path);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kPermissionDenied);
  ExpectNoKeyMaterial(id.status(), {kHex1});
  WriteFile(path, std::string("1 ") + kHex1 + "\n1 " + kHex2 + "\n", 0600);
  const std::string before = ReadFile(path);
  id = Keyring::RotateFile(path);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  ExpectNoKeyMaterial(id.status(), {kHex1, kHex2});
  EXPECT_EQ(ReadFile(path), before);
}

TEST(KeyringTest, KeyPointersLiveAsLongAsAnyOwner) {
  // key() pointers stay valid while any shared owner remains.
  auto keyring = Keyring::Parse(std::string("5 ") + kHex1 + "\n");
  ASSERT_TRUE(keyring.ok());
  std::shared_ptr<const Keyring> copy = *keyring;
  keyring = absl::InternalError("dropped");
  EXPECT_EQ(HexOf(KeyOf(*copy, 5)), kHex1);
}

}  // namespace
}  // namespace keygate
