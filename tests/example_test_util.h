// tests/example_test_util.h: helpers for the tests that compile, run and
// compare the README's examples (quickstart_test, embedding_example_test).
// Header-only.
#ifndef KEYGATE_TESTS_EXAMPLE_TEST_UTIL_H_
#define KEYGATE_TESTS_EXAMPLE_TEST_UTIL_H_

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace keygate::test {

inline std::string ReadSourceFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// SourceDir is the repository root (KEYGATE_TESTDATA_DIR is
// <source>/tests/testdata).
inline std::filesystem::path SourceDir() {
  return std::filesystem::path(KEYGATE_TESTDATA_DIR).parent_path().parent_path();
}

// RunInEmptyDirectory runs `main` in a fresh temp dir (removed afterwards)
// and returns its exit code; `out` receives what it printed on stdout.
inline int RunInEmptyDirectory(const std::function<int()>& main,
                               std::string& out) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "keygate_example_XXXXXX")
          .string();
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << std::strerror(errno);
    return -1;
  }
  const std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(pattern);
  testing::internal::CaptureStdout();
  const int exit_code = main();
  out = testing::internal::GetCapturedStdout();
  std::filesystem::current_path(previous);
  std::filesystem::remove_all(pattern);
  return exit_code;
}

// ExpectReadmeShows checks that README.md shows examples/<name> from its
// first #include on, byte for byte.
inline void ExpectReadmeShows(const std::string& name) {
  const std::string readme = ReadSourceFile(SourceDir() / "README.md");
  std::string example = ReadSourceFile(SourceDir() / "examples" / name);
  ASSERT_FALSE(example.empty());
  example = example.substr(example.find("#include"));
  EXPECT_NE(readme.find(example), std::string::npos)
      << "README.md's example differs from examples/" << name;
}

}  // namespace keygate::test

#endif  // KEYGATE_TESTS_EXAMPLE_TEST_UTIL_H_
