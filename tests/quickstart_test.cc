// tests/quickstart_test.cc: the README's library example compiles, runs,
// and is the same code as README.md shows.
#include "tests/example_test_util.h"

#define main keygate_quickstart_main
#include "examples/quickstart.cc"
#undef main

namespace {

TEST(QuickstartTest, RunsInAnEmptyDirectory) {
  std::string out;
  EXPECT_EQ(keygate::test::RunInEmptyDirectory(keygate_quickstart_main, out),
            0);
  EXPECT_NE(out.find("verified: acme/ci-bot/deploy"), std::string::npos)
      << out;
  EXPECT_NE(out.find("after revoke: invalid token"), std::string::npos)
      << out;
}

TEST(QuickstartTest, ReadmeShowsThisExample) {
  keygate::test::ExpectReadmeShows("quickstart.cc");
}

}  // namespace
