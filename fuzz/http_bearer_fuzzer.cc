// fuzz/http_bearer_fuzzer.cc: keygate::http::ExtractBearer, the
// Authorization header parser, on requests whose headers come from the
// fuzzer.
//
// Invariants checked on every input:
//   - no crash or out-of-bounds read (ASan);
//   - kBearer only with exactly one Authorization header; its value is a
//     non-empty view into that header's value, without space or tab, and the
//     header starts (after optional whitespace) with "bearer" in any case;
//   - kNone and kInvalid carry no value; kInvalid always says why;
//   - several Authorization headers are never kBearer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "keygate/http/bearer.h"
#include "keygate/http/message.h"

namespace {

using keygate::fuzz::FuzzCheck;
using keygate::fuzz::FuzzInput;
using keygate::http::BearerCredential;
using keygate::http::EqualsIgnoreCase;
using keygate::http::Request;

constexpr size_t kMaxInputSize = 16 * 1024;
constexpr size_t kMaxHeaders = 8;

constexpr std::string_view kNames[] = {
    "Authorization", "authorization", "AUTHORIZATION", "Authorisation",
    "X-Keygate-Required-Scope", "Content-Type", "Authorization ", ""};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  FuzzInput input(data, size);
  Request request;
  request.method = "GET";
  request.target = "/auth/check";
  const size_t count = input.ConsumeByte() % (kMaxHeaders + 1);
  for (size_t i = 0; i < count && !input.empty(); ++i) {
    const uint8_t pick = input.ConsumeByte();
    std::string name = pick < 8 ? std::string(kNames[pick])
                                : input.ConsumeString(32);
    std::string value =
        i + 1 == count ? std::string(input.ConsumeRest()) : input.ConsumeString(1024);
    request.headers.push_back({std::move(name), std::move(value)});
  }

  const BearerCredential credential = keygate::http::ExtractBearer(request);
  const size_t authorization_count = request.HeaderCount("Authorization");
  switch (credential.kind) {
    case BearerCredential::Kind::kNone:
      FuzzCheck(credential.value.empty(), "no credential, no value");
      break;
    case BearerCredential::Kind::kInvalid:
      FuzzCheck(credential.value.empty(), "invalid credential, no value");
      FuzzCheck(!credential.why.empty(), "invalid credential says why");
      FuzzCheck(authorization_count >= 1, "invalid needs a header");
      break;
    case BearerCredential::Kind::kBearer: {
      FuzzCheck(authorization_count == 1, "bearer needs exactly one header");
      FuzzCheck(!credential.value.empty(), "bearer value not empty");
      FuzzCheck(credential.value.find_first_of(" \t") == std::string_view::npos,
                "bearer value is one token68");
      const std::string_view header = *request.FindHeader("Authorization");
      FuzzCheck(credential.value.data() >= header.data() &&
                    credential.value.data() + credential.value.size() <=
                        header.data() + header.size(),
                "bearer value is a view into the header");
      const size_t start = header.find_first_not_of(" \t");
      FuzzCheck(start != std::string_view::npos &&
                    EqualsIgnoreCase(header.substr(start, 6), "bearer"),
                "bearer scheme named");
      break;
    }
  }
  if (authorization_count > 1) {
    FuzzCheck(credential.kind == BearerCredential::Kind::kInvalid,
              "several authorization headers refused");
  }
  return 0;
}
