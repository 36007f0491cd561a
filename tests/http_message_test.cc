// tests/http_message_test.cc: the framework-neutral request and response
// values (keygate/http/message.h).
#include "keygate/http/message.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace keygate::http {
namespace {

TEST(HttpMessageTest, HeaderLookupIgnoresCaseAndKeepsRepeats) {
  Request request;
  request.headers = {{"Authorization", "Bearer a"},
                     {"authorization", "Bearer b"},
                     {"Content-Type", "application/json"}};
  EXPECT_EQ(request.HeaderCount("AUTHORIZATION"), 2u);
  EXPECT_EQ(request.FindHeader("authorization").value_or(""), "Bearer a");
  EXPECT_EQ(request.HeaderCount("X-Missing"), 0u);
  EXPECT_FALSE(request.FindHeader("X-Missing").has_value());
  EXPECT_TRUE(EqualsIgnoreCase("Content-TYPE", "content-type"));
  EXPECT_FALSE(EqualsIgnoreCase("Content-Type", "Content-Typ"));
}

TEST(HttpMessageTest, SetHeaderReplacesEveryFieldOfThatName) {
  Response response;
  response.headers = {{"X-A", "1"}, {"x-a", "2"}, {"X-B", "3"}};
  response.SetHeader("X-a", "4");
  ASSERT_EQ(response.headers.size(), 2u);
  EXPECT_EQ(response.FindHeader("x-A").value_or(""), "4");
  EXPECT_EQ(response.FindHeader("X-B").value_or(""), "3");
}

TEST(HttpMessageTest, MovingASensitiveResponseLeavesNoCopyBehind) {
  for (std::string secret : {std::string("short-secret"),
                             std::string(200, 's')}) {
    Response source;
    source.status = 201;
    source.body = secret;
    source.sensitive = true;
    Response moved(std::move(source));
    EXPECT_EQ(moved.status, 201);
    EXPECT_EQ(moved.body, secret);
    EXPECT_TRUE(moved.sensitive);
    EXPECT_TRUE(source.body.empty());  // NOLINT: checking the moved-from
    EXPECT_FALSE(source.sensitive);    // NOLINT

    Response assigned;
    assigned.body = "old";
    assigned = std::move(moved);
    EXPECT_EQ(assigned.body, secret);
    EXPECT_TRUE(assigned.sensitive);
    EXPECT_TRUE(moved.body.empty());  // NOLINT
  }
}

TEST(HttpMessageTest, WipeBodyZeroesTheBytesInPlace) {
  Response response;
  response.body = std::string(64, 'k');
  response.sensitive = true;
  const char* data = response.body.data();
  response.WipeBody();
  EXPECT_TRUE(response.body.empty());
  // The buffer is still owned (clear keeps capacity): its bytes are zero.
  for (size_t i = 0; i < 64; ++i) ASSERT_EQ(data[i], '\0') << i;
}

}  // namespace
}  // namespace keygate::http
