// tests/webhook_target_url_test.cc: the SSRF guard of webhook URLs
// (lib/webhooks/target_url.h, target_address.h), attacked with the host
// spellings resolvers and URL libraries accept.
#include "lib/webhooks/target_url.h"

#include <string>

#include "gtest/gtest.h"
#include "keygate/errors.h"
#include "lib/webhooks/target_address.h"

namespace keygate::webhooks {
namespace {

absl::Status Check(std::string_view url, const WebhookTargetPolicy& policy = {}) {
  return CheckWebhookUrl(url, policy, "url").status();
}

TEST(WebhookTargetAddressTest, Ipv4LiteralFormsAsInetAton) {
  EXPECT_EQ(ParseIpv4Literal("127.0.0.1"), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("127.1"), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("0x7f.1"), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("2130706433"), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("017700000001"), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("0177.0.0.01"), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("0x7F000001"), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("127.0.0.1."), 0x7f000001u);
  EXPECT_EQ(ParseIpv4Literal("10.0.65535"), 0x0a00ffffu);
  EXPECT_FALSE(ParseIpv4Literal("256.0.0.1").has_value());
  EXPECT_FALSE(ParseIpv4Literal("1.2.3.4.5").has_value());
  EXPECT_FALSE(ParseIpv4Literal("08.0.0.1").has_value());  // bad octal
  EXPECT_FALSE(ParseIpv4Literal("4294967296").has_value());
  EXPECT_FALSE(ParseIpv4Literal("example.com").has_value());
  EXPECT_FALSE(ParseIpv4Literal("").has_value());
}

TEST(WebhookTargetAddressTest, ClassifiesIpv4Ranges) {
  EXPECT_EQ(ClassifyIpv4(0x7f000001), AddressClass::kLoopback);
  EXPECT_EQ(ClassifyIpv4(0x00000000), AddressClass::kUnspecified);
  EXPECT_EQ(ClassifyIpv4(0x0a000001), AddressClass::kPrivate);
  EXPECT_EQ(ClassifyIpv4(0xac100001), AddressClass::kPrivate);   // 172.16
  EXPECT_EQ(ClassifyIpv4(0xac1fffff), AddressClass::kPrivate);   // 172.31
  EXPECT_EQ(ClassifyIpv4(0xac200001), AddressClass::kPublic);    // 172.32
  EXPECT_EQ(ClassifyIpv4(0xc0a80101), AddressClass::kPrivate);   // 192.168
  EXPECT_EQ(ClassifyIpv4(0x64400001), AddressClass::kPrivate);   // 100.64
  EXPECT_EQ(ClassifyIpv4(0xa9fea9fe), AddressClass::kLinkLocal); // 169.254.169.254
  EXPECT_EQ(ClassifyIpv4(0xe0000001), AddressClass::kMulticast);
  EXPECT_EQ(ClassifyIpv4(0xffffffff), AddressClass::kReserved);
  EXPECT_EQ(ClassifyIpv4(0x5db8d822), AddressClass::kPublic);    // 93.184.216.34
  EXPECT_EQ(ClassifyIpv4(0x08080808), AddressClass::kPublic);
}

TEST(WebhookTargetAddressTest, ClassifiesIpv6RangesAndEmbeddedIpv4) {
  auto v6 = [](std::string_view text) {
    std::optional<Ipv6Bytes> a = ParseIpv6Literal(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.has_value() ? ClassifyIpv6(*a) : AddressClass::kPublic;
  };
  EXPECT_EQ(v6("::1"), AddressClass::kLoopback);
  EXPECT_EQ(v6("::"), AddressClass::kUnspecified);
  EXPECT_EQ(v6("::ffff:127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(v6("::ffff:7f00:1"), AddressClass::kLoopback);
  EXPECT_EQ(v6("::ffff:169.254.169.254"), AddressClass::kLinkLocal);
  EXPECT_EQ(v6("::127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(v6("64:ff9b::10.0.0.1"), AddressClass::kReserved);
  EXPECT_EQ(v6("2002:7f00:1::"), AddressClass::kReserved);
  EXPECT_EQ(v6("fc00::1"), AddressClass::kPrivate);
  EXPECT_EQ(v6("fd12:3456::1"), AddressClass::kPrivate);
  EXPECT_EQ(v6("fe80::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(v6("febf::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(v6("fec0::1"), AddressClass::kReserved);
  EXPECT_EQ(v6("ff02::1"), AddressClass::kMulticast);
  EXPECT_EQ(v6("2001:db8::1"), AddressClass::kReserved);
  EXPECT_EQ(v6("2606:4700:4700::1111"), AddressClass::kPublic);
  EXPECT_EQ(v6("::ffff:8.8.8.8"), AddressClass::kPublic);
  EXPECT_FALSE(ParseIpv6Literal("fe80::1%eth0").has_value());
  EXPECT_FALSE(ParseIpv6Literal("1:2:3").has_value());
}

struct RefusalCase {
  const char* url;
  const char* why;
};

class WebhookUrlRefusalTest : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(WebhookUrlRefusalTest, RefusedByDefaultWithAUrlFieldError) {
  absl::Status status = Check(GetParam().url);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
      << GetParam().url;
  std::vector<FieldError> errors = FieldErrorsOf(status);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "url");
  EXPECT_NE(errors[0].message.find(GetParam().why), std::string::npos)
      << GetParam().url << ": " << errors[0].message;
}

INSTANTIATE_TEST_SUITE_P(
    Ssrf, WebhookUrlRefusalTest,
    ::testing::Values(
        RefusalCase{"http://127.0.0.1/hook", "loopback"},
        RefusalCase{"http://127.1/hook", "loopback"},
        RefusalCase{"http://0x7f.1/hook", "loopback"},
        RefusalCase{"http://0x7F.0.0.1/hook", "loopback"},
        RefusalCase{"http://2130706433/hook", "loopback"},
        RefusalCase{"http://017700000001/hook", "loopback"},
        RefusalCase{"http://0177.0.0.1/hook", "loopback"},
        RefusalCase{"http://127.0.0.1./hook", "loopback"},
        RefusalCase{"http://0/hook", "unspecified"},
        RefusalCase{"http://0.0.0.0:8080/", "unspecified"},
        RefusalCase{"http://[::1]/hook", "loopback"},
        RefusalCase{"http://[::]/hook", "unspecified"},
        RefusalCase{"http://[::ffff:127.0.0.1]/hook", "loopback"},
        RefusalCase{"http://[::ffff:7f00:1]/hook", "loopback"},
        RefusalCase{"http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "link-local"},
        RefusalCase{"http://169.254.169.254/latest/meta-data/", "link-local"},
        RefusalCase{"http://10.0.0.5/", "private"},
        RefusalCase{"http://10.1/", "private"},
        RefusalCase{"http://172.16.0.1/", "private"},
        RefusalCase{"http://172.31.255.255/", "private"},
        RefusalCase{"http://192.168.1.1/", "private"},
        RefusalCase{"http://100.64.0.1/", "private"},
        RefusalCase{"http://[fc00::1]/", "private"},
        RefusalCase{"http://[fdff:ffff::1]/", "private"},
        RefusalCase{"http://[fe80::1]/", "link-local"},
        RefusalCase{"http://[FE80::abcd]/", "link-local"},
        RefusalCase{"http://[fe80::1%25eth0]/", "percent-encode"},
        RefusalCase{"http://localhost/hook", "local host name"},
        RefusalCase{"http://LOCALHOST:8080/hook", "local host name"},
        RefusalCase{"http://localhost./hook", "local host name"},
        RefusalCase{"http://api.localhost/hook", "local host name"},
        RefusalCase{"http://metadata.google.internal/", "local host name"},
        RefusalCase{"http://printer.local/", "local host name"},
        RefusalCase{"http://intranet/", "local host name"},
        RefusalCase{"ftp://example.com/hook", "http or https"},
        RefusalCase{"file:///etc/passwd", "http or https"},
        RefusalCase{"gopher://example.com/", "http or https"},
        RefusalCase{"javascript:alert(1)", "absolute"},
        RefusalCase{"//example.com/hook", "absolute"},
        RefusalCase{"example.com/hook", "absolute"},
        RefusalCase{"https://user@example.com/", "user info"},
        RefusalCase{"https://example.com@127.0.0.1/", "user info"},
        RefusalCase{"https://example.com:x@127.0.0.1/", "user info"},
        RefusalCase{"http://127.0.0.1\\@example.com/", "backslash"},
        RefusalCase{"https://example.com#@127.0.0.1/", "fragment"},
        RefusalCase{"http://%31%32%37.0.0.1/", "percent-encode"},
        RefusalCase{"http://1.2.3.4.5/", "IPv4"},
        RefusalCase{"http://999.1.1.1/", "IPv4"},
        RefusalCase{"http://example.com:0/", "port"},
        RefusalCase{"http://example.com:65536/", "port"},
        RefusalCase{"http://example.com:/", "empty port"},
        RefusalCase{"http:///hook", "must name a host"},
        RefusalCase{"https://exa mple.com/", "printable"},
        RefusalCase{"https://ex\xc3\xa4mple.com/", "printable"},
        RefusalCase{"https://example.com/\n", "printable"},
        RefusalCase{"https://exa_mple.com/", "characters"},
        RefusalCase{"", "empty"}));

TEST(WebhookUrlTest, AcceptsPublicHttpAndHttps) {
  for (std::string_view url :
       {"https://example.com/hooks/keygate", "http://example.com",
        "HTTPS://Hooks.Example.COM:8443/x?y=1", "https://93.184.216.34/hook",
        "https://[2606:4700:4700::1111]:443/hook", "https://example.com./x",
        "https://a-b.example.co.uk/p"}) {
    absl::StatusOr<WebhookUrl> parsed =
        CheckWebhookUrl(url, WebhookTargetPolicy{}, "url");
    EXPECT_TRUE(parsed.ok()) << url << ": " << parsed.status();
  }
  absl::StatusOr<WebhookUrl> parsed =
      ParseWebhookUrl("HTTPS://Hooks.Example.COM:8443?y=1");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->https);
  EXPECT_EQ(parsed->host, "hooks.example.com");
  EXPECT_EQ(parsed->port, 8443);
  EXPECT_EQ(parsed->path_and_query, "/?y=1");
}

TEST(WebhookUrlTest, RefusesOverlongUrls) {
  std::string url = "https://example.com/" + std::string(2048, 'a');
  EXPECT_EQ(Check(url).code(), absl::StatusCode::kInvalidArgument);
}

TEST(WebhookUrlTest, LocalTestingFlagAllowsPrivateTargets) {
  WebhookTargetPolicy policy;
  policy.allow_private_targets = true;
  EXPECT_TRUE(Check("http://127.0.0.1:8080/hook", policy).ok());
  EXPECT_TRUE(Check("http://localhost:8080/hook", policy).ok());
  EXPECT_TRUE(Check("http://[::1]/hook", policy).ok());
  // The flag opens addresses, not URL tricks.
  EXPECT_FALSE(Check("http://user@localhost/", policy).ok());
  EXPECT_FALSE(Check("ftp://localhost/", policy).ok());
}

TEST(WebhookUrlTest, AllowAndDenyLists) {
  WebhookTargetPolicy policy;
  policy.allowed_hosts = {"hooks.example.com", ".partner.example"};
  EXPECT_TRUE(Check("https://hooks.example.com/x", policy).ok());
  EXPECT_TRUE(Check("https://HOOKS.example.com./x", policy).ok());
  EXPECT_TRUE(Check("https://a.partner.example/x", policy).ok());
  EXPECT_FALSE(Check("https://partner.example/x", policy).ok());
  EXPECT_FALSE(Check("https://evil.example.com/x", policy).ok());
  EXPECT_FALSE(Check("https://hooks.example.com.evil.net/x", policy).ok());
  // An allowlisted address literal is still refused if it is private.
  policy.allowed_hosts = {"10.0.0.1"};
  EXPECT_FALSE(Check("https://10.0.0.1/x", policy).ok());

  WebhookTargetPolicy deny;
  deny.denied_hosts = {".evil.net", "bad.example.com"};
  EXPECT_FALSE(Check("https://x.evil.net/", deny).ok());
  EXPECT_FALSE(Check("https://BAD.example.com/", deny).ok());
  EXPECT_TRUE(Check("https://good.example.com/", deny).ok());

  WebhookTargetPolicy https_only;
  https_only.allow_http = false;
  EXPECT_FALSE(Check("http://example.com/", https_only).ok());
  EXPECT_TRUE(Check("https://example.com/", https_only).ok());
}

// The review's list, each form checked: IPv6 forms that carry a private
// IPv4 address, and the IPv4 ranges that are not public.
TEST(WebhookTargetAddressTest, ReviewedEmbeddedAndSpecialRanges) {
  auto v6 = [](std::string_view text) {
    std::optional<Ipv6Bytes> a = ParseIpv6Literal(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.has_value() ? ClassifyIpv6(*a) : AddressClass::kPublic;
  };
  EXPECT_NE(v6("2002:0a00:0001::1"), AddressClass::kPublic);      // 6to4 10/8
  EXPECT_NE(v6("2002:a9fe:a9fe::"), AddressClass::kPublic);       // 6to4 metadata
  EXPECT_EQ(v6("2002:0808:0808::1"), AddressClass::kPublic);      // 6to4 8.8.8.8
  EXPECT_NE(v6("2001:0:4136:e378:8000:63bf:3fff:fdd2"),
            AddressClass::kPublic);                               // Teredo
  EXPECT_NE(v6("2001::1"), AddressClass::kPublic);
  EXPECT_NE(v6("64:ff9b::7f00:1"), AddressClass::kPublic);        // NAT64 WKP
  EXPECT_NE(v6("64:ff9b::a9fe:a9fe"), AddressClass::kPublic);
  EXPECT_EQ(v6("64:ff9b::808:808"), AddressClass::kPublic);
  EXPECT_NE(v6("64:ff9b:1::808:808"), AddressClass::kPublic);     // local-use
  EXPECT_NE(v6("::10.0.0.1"), AddressClass::kPublic);             // compatible
  EXPECT_NE(v6("::ffff:0:127.0.0.1"), AddressClass::kPublic);     // translated
  EXPECT_NE(v6("::ffff:100.64.0.1"), AddressClass::kPublic);
  EXPECT_EQ(ClassifyIpv4(0x00ffffff), AddressClass::kUnspecified);  // 0/8
  EXPECT_EQ(ClassifyIpv4(0x647fffff), AddressClass::kPrivate);   // 100.127/10 end
  EXPECT_EQ(ClassifyIpv4(0x64800000), AddressClass::kPublic);    // 100.128
  EXPECT_EQ(ClassifyIpv4(0xc6120001), AddressClass::kReserved);  // 198.18
  EXPECT_EQ(ClassifyIpv4(0xc613ffff), AddressClass::kReserved);  // 198.19
  EXPECT_EQ(ClassifyIpv4(0xc6140000), AddressClass::kPublic);    // 198.20
  EXPECT_EQ(ClassifyIpv4(0xefffffff), AddressClass::kMulticast); // 239/8
  EXPECT_EQ(ClassifyIpv4(0xf0000001), AddressClass::kReserved);  // 240/4
}

// URL parser differentials from the review: each either refused, or read
// as the one host every client connects to.
TEST(WebhookUrlTest, ReviewedParserDifferentials) {
  for (std::string_view url :
       {"http://a@b@c/", "http://example.com\\@10.0.0.1/",
        "http://%65xample.com/", "http://ex%2eample.com/",
        "http://[fe80::1%25eth0]/", "http://[fe80::1%eth0]/",
        "http://exa\tmple.com/", "http://example.com/\r\nHost: x",
        "http://example.com:0/", "http://example.com:65536/",
        "http://example.com:999999/", "http://example.com:-1/",
        "http://example.com:+80/", "http://example.com: 80/",
        "http://xn--nxasmq6b.com\xc2\xa0/", "http:///x", "http://:80/",
        "http://[]/", "http://./", "http://../", "http://.example.com/",
        "http://10.0.0.1../", "http://example.com../",
        "http://0.0.0.0/", "http://255.255.255.255/", "http://[::ffff:10.0.0.1]/",
        "http://[2002:7f00:1::1]/", "http://[64:ff9b::7f00:1]/",
        "http://[2001::1]/", "http://198.18.0.1/", "http://100.64.0.1/",
        "http://224.0.0.1/", "http://240.0.0.1/"}) {
    EXPECT_EQ(Check(url).code(), absl::StatusCode::kInvalidArgument) << url;
  }
  // Accepted, and read as what a client reads.
  absl::StatusOr<WebhookUrl> parsed =
      ParseWebhookUrl("HtTpS://Example.COM.:0443/x");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->https);
  EXPECT_EQ(parsed->host, "example.com");
  EXPECT_EQ(parsed->port, 443);
  parsed = ParseWebhookUrl("https://xn--nxasmq6b.com/");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->host, "xn--nxasmq6b.com");
}

// A host written with two trailing dots is not the name with one: it must
// be refused, not stored as "example.com." where a denied "example.com"
// no longer matches it (a client that strips one dot connects to it).
TEST(WebhookUrlTest, DoubleTrailingDotCannotSlipPastTheDenyList) {
  WebhookTargetPolicy deny;
  deny.denied_hosts = {"evil.example.com"};
  EXPECT_FALSE(Check("https://evil.example.com../", deny).ok());
  EXPECT_FALSE(Check("https://evil.example.com./", deny).ok());
  EXPECT_FALSE(ParseWebhookUrl("https://example.com../").ok());
  EXPECT_FALSE(ParseWebhookUrl("https://10.0.0.1../").ok());
}

}  // namespace
}  // namespace keygate::webhooks
