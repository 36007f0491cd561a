// tests/embedding_example_test.cc: the README's "Embedding in your server"
// example compiles, runs, and is the same code as README.md shows.
#include "tests/example_test_util.h"

#define main keygate_embedding_main
#include "examples/embedding.cc"
#undef main

namespace {

TEST(EmbeddingExampleTest, RunsInAnEmptyDirectory) {
  std::string out;
  EXPECT_EQ(keygate::test::RunInEmptyDirectory(keygate_embedding_main, out),
            0);
  EXPECT_NE(out.find("created: 201 201"), std::string::npos) << out;
  EXPECT_NE(out.find("orders for acme"), std::string::npos) << out;
}

TEST(EmbeddingExampleTest, ReadmeShowsThisExample) {
  keygate::test::ExpectReadmeShows("embedding.cc");
}

}  // namespace
