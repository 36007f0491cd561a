// tests/embedding_example_test.cc: the README embedding example compiles, runs,
// and is the same code as README.md shows.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

#define main keygate_embedding_main
#include "examples/embedding.cc"
#undef main

namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::filesystem::path kSourceDir =
    std::filesystem::path(KEYGATE_TESTDATA_DIR).parent_path().parent_path();

TEST(EmbeddingExampleTest, RunsInAnEmptyDirectory) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "keygate_embedding_XXXXXX")
          .string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
  const std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(pattern);
  testing::internal::CaptureStdout();
  const int exit_code = keygate_embedding_main();
  const std::string out = testing::internal::GetCapturedStdout();
  std::filesystem::current_path(previous);
  std::filesystem::remove_all(pattern);
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(out.find("created: 201 201"), std::string::npos) << out;
  EXPECT_NE(out.find("orders for acme"), std::string::npos) << out;
}

TEST(EmbeddingExampleTest, ReadmeShowsThisExample) {
  const std::string readme = ReadFile(kSourceDir / "README.md");
  std::string example = ReadFile(kSourceDir / "examples" / "quickstart.cc");
  ASSERT_FALSE(example.empty());
  // The README shows the file from its first #include on.
  example = example.substr(example.find("#include"));
  EXPECT_NE(readme.find(example), std::string::npos)
      << "README.md's embedding example differs from examples/embedding.cc";
}

}  // namespace
