// fuzz/http_jwt_fuzzer.cc: keygate::http::JwtVerifier::Verify with a fixed
// key, on hostile compact JWTs and on validly signed JWTs whose header and
// payload JSON come from the fuzzer (reaching the JSON and claim checks that
// sit behind the signature).
//
// Invariants checked on every input:
//   - no crash or out-of-bounds read (ASan), whatever the bytes;
//   - every failure is Unauthenticated and its message never contains the
//     JWT, its signature or the key;
//   - an accepted JWT carries a non-empty organization and subject, is not
//     expired at `now`, and is accepted only when correctly signed: the same
//     text with one signature character changed is refused;
//   - MintJwt output for fuzzed organization/subject, when minting succeeds,
//     verifies and gives back exactly the organization and subject.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_util.h"
#include "keygate/http/jwt.h"
#include "lib/base/absl_view.h"

namespace {

using keygate::AbslView;
using keygate::fuzz::FuzzCheck;
using keygate::fuzz::FuzzInput;
using keygate::http::JwtVerifier;

constexpr size_t kMaxInputSize = 2 * keygate::http::kMaxJwtBytes;
// Fixed fuzzing key (never a real secret).
constexpr std::string_view kKey = "keygate-fuzz-jwt-key-0123456789abcdef";
// 2026-11-30T00:00:00Z.
const absl::Time kNow = absl::FromUnixSeconds(1796083200);

std::string B64Url(std::string_view bytes) {
  return std::string(absl::WebSafeBase64Escape(AbslView(bytes)));
}

std::string Sign(std::string_view header, std::string_view payload) {
  std::string signing_input = B64Url(header) + "." + B64Url(payload);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state,
                              reinterpret_cast<const unsigned char*>(kKey.data()),
                              kKey.size());
  crypto_auth_hmacsha256_update(
      &state, reinterpret_cast<const unsigned char*>(signing_input.data()),
      signing_input.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return signing_input + "." +
         B64Url(std::string_view(reinterpret_cast<const char*>(mac),
                                 sizeof(mac)));
}

const JwtVerifier& Verifier() {
  static const JwtVerifier* verifier = [] {
    FuzzCheck(sodium_init() >= 0, "sodium_init");
    keygate::http::JwtVerifierOptions options;
    options.leeway = absl::Seconds(30);
    auto v = JwtVerifier::FromKey(kKey, options);
    FuzzCheck(v.ok(), "fixed JWT key accepted");
    return new JwtVerifier(*std::move(v));
  }();
  return *verifier;
}

// EchoesPart reports whether `message`, the error for `jwt`, holds the
// piece jwt[pos, pos + len) because it echoes its input, not because the
// piece happens to spell words of the error's fixed text (a fuzzed "JWT"
// "alformed" is in "malformed"): the error for the same JWT with the piece's
// middle character changed must then hold the changed piece.
bool EchoesPart(std::string_view jwt, std::string_view message, size_t pos,
                size_t len) {
  if (message.find(jwt.substr(pos, len)) == std::string_view::npos) {
    return false;
  }
  std::string changed(jwt);
  char& c = changed[pos + len / 2];
  c = c == '#' ? '$' : '#';
  const auto other = Verifier().Verify(changed, kNow);
  if (other.ok()) return true;  // cannot happen for a fuzzed signature
  const std::string_view other_message =
      keygate::fuzz::MessageOf(other.status());
  return other_message.find(std::string_view(changed).substr(pos, len)) !=
         std::string_view::npos;
}

// CheckVerify runs Verify on `jwt` and checks the invariants of its answer.
void CheckVerify(std::string_view jwt) {
  const auto claims = Verifier().Verify(jwt, kNow);
  if (!claims.ok()) {
    FuzzCheck(absl::IsUnauthenticated(claims.status()),
              "JWT failure is Unauthenticated");
    const std::string_view message =
        keygate::fuzz::MessageOf(claims.status());
    FuzzCheck(message.find(kKey) == std::string_view::npos,
              "JWT error never holds the key");
    const size_t dot = jwt.rfind('.');
    if (dot != std::string_view::npos && jwt.size() - dot > 8) {
      FuzzCheck(!EchoesPart(jwt, message, dot + 1, jwt.size() - dot - 1),
                "JWT error never echoes the signature");
    }
    if (jwt.size() >= 8) {
      FuzzCheck(!EchoesPart(jwt, message, 0, jwt.size()),
                "JWT error never echoes the token");
    }
    return;
  }
  FuzzCheck(!claims->organization.empty(), "accepted JWT has an organization");
  FuzzCheck(!claims->subject.empty(), "accepted JWT has a subject");
  FuzzCheck(kNow < claims->expires_at + absl::Seconds(30),
            "accepted JWT is not expired");
  // Changing one signature character must break it.
  const size_t dot = jwt.rfind('.');
  FuzzCheck(dot != std::string_view::npos && dot + 1 < jwt.size(),
            "accepted JWT has a signature");
  std::string tampered(jwt);
  char& c = tampered[dot + 1];
  c = c == 'A' ? 'B' : 'A';
  FuzzCheck(!Verifier().Verify(tampered, kNow).ok(),
            "tampered signature refused");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  FuzzInput input(data, size);
  switch (input.ConsumeByte() % 3) {
    case 0: {
      // The bytes as a compact JWT.
      const std::string jwt(input.ConsumeRest());
      CheckVerify(jwt);
      break;
    }
    case 1: {
      // A correctly signed JWT around fuzzed header and payload JSON; a set
      // bit keeps the standard header so the payload rules are reached.
      const bool standard_header = input.ConsumeBool();
      std::string header = input.ConsumeString(512);
      if (standard_header) header = R"({"alg":"HS256","typ":"JWT"})";
      const std::string payload(input.ConsumeRest());
      CheckVerify(Sign(header, payload));
      break;
    }
    default: {
      // MintJwt and Verify agree.
      const std::string org = input.ConsumeString(128);
      const std::string subject = input.ConsumeString(128);
      const int ttl_seconds = input.ConsumeInRange(1, 3600);
      const auto jwt = keygate::http::MintJwt(kKey, "org", org, subject, kNow,
                                              absl::Seconds(ttl_seconds));
      if (!jwt.ok()) {
        FuzzCheck(absl::IsInvalidArgument(jwt.status()),
                  "MintJwt failure is InvalidArgument");
        FuzzCheck(org.empty() || subject.empty() ||
                      !jwt.status().message().empty(),
                  "MintJwt failure says why");
        break;
      }
      const auto claims = Verifier().Verify(*jwt, kNow);
      FuzzCheck(claims.ok(), "minted JWT verifies");
      FuzzCheck(claims->organization == org && claims->subject == subject,
                "minted claims round-trip");
      CheckVerify(*jwt);
      break;
    }
  }
  return 0;
}
