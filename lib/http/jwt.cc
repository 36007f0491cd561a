// lib/http/jwt.cc: strict HS256 JWT verification and minting.
#include "keygate/http/jwt.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace keygate::http {
namespace {

using Json = nlohmann::json;

constexpr size_t kSignatureBytes = crypto_auth_hmacsha256_BYTES;  // 32
static_assert(kSignatureBytes == 32, "crypto_verify_32 needs 32 bytes");

absl::Status EnsureSodium() {
  static const int rc = sodium_init();  // thread-safe static init
  if (rc < 0) return absl::InternalError("jwt: sodium_init failed");
  return absl::OkStatus();
}

absl::Status Reject(std::string_view reason) {
  return absl::UnauthenticatedError(absl::StrCat("jwt: ", std::string(reason)));
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Decodes unpadded base64url strictly: only the URL-safe alphabet (no '=',
// no whitespace), no trailing garbage, canonical trailing bits. Returns
// false on any deviation.
bool DecodeBase64Url(std::string_view in, std::string* out) {
  if (in.empty() || in.size() % 4 == 1) return false;
  for (char c : in) {
    if (!IsBase64UrlChar(c)) return false;
  }
  std::string bin(in.size() / 4 * 3 + 3, '\0');
  size_t bin_len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()),
                        bin.size(), in.data(), in.size(), /*ignore=*/nullptr,
                        &bin_len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != in.data() + in.size()) {
    return false;
  }
  bin.resize(bin_len);
  *out = std::move(bin);
  return true;
}

std::string EncodeBase64Url(std::string_view bin) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bin.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(),
                    reinterpret_cast<const unsigned char*>(bin.data()),
                    bin.size(), kVariant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

void HmacSha256(const unsigned char* key, size_t key_size,
                std::string_view message,
                unsigned char out[crypto_auth_hmacsha256_BYTES]) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key, key_size);
  crypto_auth_hmacsha256_update(
      &state, reinterpret_cast<const unsigned char*>(message.data()),
      message.size());
  crypto_auth_hmacsha256_final(&state, out);
  sodium_memzero(&state, sizeof(state));
}

// Parses `text` as a JSON object without exceptions; nullopt otherwise
// (including invalid UTF-8, which nlohmann's lexer refuses).
std::optional<Json> ParseObject(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// Converts a NumericDate claim (RFC 7519: seconds since the epoch, possibly
// fractional) to a time; nullopt if it is not a finite number.
std::optional<absl::Time> NumericDate(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return absl::InfiniteFuture();
    return absl::FromUnixSeconds(static_cast<int64_t>(v));
  }
  if (value.is_number_integer()) {
    return absl::FromUnixSeconds(value.get<int64_t>());
  }
  if (value.is_number_float()) {
    const double v = value.get<double>();
    if (!std::isfinite(v)) return std::nullopt;
    return absl::UnixEpoch() + absl::Seconds(v);
  }
  return std::nullopt;
}

bool IsReservedClaim(std::string_view name) {
  return name == "sub" || name == "exp" || name == "nbf" || name == "iat";
}

absl::Status CheckOrgClaimName(std::string_view org_claim) {
  if (org_claim.empty() || IsReservedClaim(org_claim)) {
    return absl::InvalidArgumentError(
        "jwt: the organization claim name must be non-empty and not one of "
        "sub, exp, nbf, iat");
  }
  return absl::OkStatus();
}

}  // namespace

void JwtVerifier::KeyDeleter::operator()(unsigned char* p) const {
  sodium_free(p);  // wipes before freeing
}

absl::StatusOr<JwtVerifier> JwtVerifier::FromKey(std::string_view key,
                                                 std::string org_claim) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return s;
  if (absl::Status s = CheckOrgClaimName(org_claim); !s.ok()) return s;
  if (key.empty()) {
    return absl::InvalidArgumentError("jwt: the JWT secret is empty");
  }
  if (key.size() < kMinJwtKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwt: the JWT secret is ", key.size(),
                     " bytes; HS256 needs at least ", kMinJwtKeyBytes));
  }
  if (key.size() > kMaxJwtKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "jwt: the JWT secret is longer than ", kMaxJwtKeyBytes, " bytes"));
  }
  auto* raw = static_cast<unsigned char*>(sodium_malloc(key.size()));
  if (raw == nullptr) {
    return absl::ResourceExhaustedError("jwt: cannot allocate the key");
  }
  std::unique_ptr<unsigned char[], KeyDeleter> owned(raw);
  std::memcpy(raw, key.data(), key.size());
  sodium_mprotect_readonly(raw);
  return JwtVerifier(std::move(owned), key.size(), std::move(org_claim));
}

absl::StatusOr<JwtVerifier> JwtVerifier::FromSecretFile(
    const std::string& path, std::string org_claim) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        absl::StrCat("jwt: cannot open the JWT secret file ",
                                     path, ": ", std::strerror(err)));
  }
  // Read at most a little more than the largest key plus a line ending, so a
  // wrong path (a device, a huge file) cannot exhaust memory.
  std::string buf(kMaxJwtKeyBytes + 4, '\0');
  size_t size = 0;
  absl::Status status;
  while (size < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + size, buf.size() - size);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      status = absl::Status(absl::ErrnoToStatusCode(err),
                            absl::StrCat("jwt: cannot read ", path, ": ",
                                         std::strerror(err)));
      break;
    }
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  if (status.ok()) {
    // Trim one line ending ("\n" or "\r\n"), as `keygate jwt mint` does.
    if (size > 0 && buf[size - 1] == '\n') {
      --size;
      if (size > 0 && buf[size - 1] == '\r') --size;
    }
  }
  absl::StatusOr<JwtVerifier> verifier =
      status.ok() ? FromKey(std::string_view(buf.data(), size),
                            std::move(org_claim))
                  : absl::StatusOr<JwtVerifier>(status);
  sodium_memzero(buf.data(), buf.size());
  if (!verifier.ok() &&
      verifier.status().code() == absl::StatusCode::kInvalidArgument) {
    return absl::InvalidArgumentError(absl::StrCat(
        verifier.status().message(), " (file ", path, ")"));
  }
  return verifier;
}

absl::StatusOr<JwtClaims> JwtVerifier::Verify(std::string_view jwt,
                                              absl::Time now) const {
  if (jwt.size() > kMaxJwtBytes) return Reject("too large");
  const size_t dot1 = jwt.find('.');
  if (dot1 == std::string_view::npos) return Reject("malformed");
  const size_t dot2 = jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos ||
      jwt.find('.', dot2 + 1) != std::string_view::npos) {
    return Reject("malformed");
  }
  const std::string_view header_b64 = jwt.substr(0, dot1);
  const std::string_view payload_b64 = jwt.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = jwt.substr(dot2 + 1);

  std::string header_json, payload_json, signature;
  if (!DecodeBase64Url(header_b64, &header_json) ||
      !DecodeBase64Url(payload_b64, &payload_json) ||
      !DecodeBase64Url(signature_b64, &signature)) {
    return Reject("malformed");
  }

  // Authenticate before interpreting anything: the algorithm is HS256
  // because this verifier says so, whatever the header claims.
  if (signature.size() != kSignatureBytes) return Reject("bad signature");
  unsigned char expected[kSignatureBytes];
  HmacSha256(key_.get(), key_size_, jwt.substr(0, dot2), expected);
  const bool signature_ok =
      crypto_verify_32(expected, reinterpret_cast<const unsigned char*>(
                                     signature.data())) == 0;
  sodium_memzero(expected, sizeof(expected));
  if (!signature_ok) return Reject("bad signature");

  // The header must still say HS256, so a token minted for another
  // algorithm with a reused key is refused too.
  const std::optional<Json> header = ParseObject(header_json);
  if (!header.has_value()) return Reject("bad header");
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() ||
      alg->get_ref<const std::string&>() != "HS256") {
    return Reject("unsupported alg");
  }
  if (const auto typ = header->find("typ"); typ != header->end()) {
    if (!typ->is_string() || typ->get_ref<const std::string&>() != "JWT") {
      return Reject("bad typ");
    }
  }
  if (header->contains("crit")) return Reject("unsupported crit");

  const std::optional<Json> payload = ParseObject(payload_json);
  if (!payload.has_value()) return Reject("bad payload");

  JwtClaims claims;
  const auto exp = payload->find("exp");
  if (exp == payload->end()) return Reject("missing exp");
  const std::optional<absl::Time> expires_at = NumericDate(*exp);
  if (!expires_at.has_value()) return Reject("bad exp");
  if (!(now < *expires_at)) return Reject("expired");
  claims.expires_at = *expires_at;

  if (const auto nbf = payload->find("nbf"); nbf != payload->end()) {
    const std::optional<absl::Time> not_before = NumericDate(*nbf);
    if (!not_before.has_value()) return Reject("bad nbf");
    if (now < *not_before) return Reject("not yet valid");
    claims.not_before = *not_before;
  }

  const auto org = payload->find(org_claim_);
  if (org == payload->end() || !org->is_string() ||
      org->get_ref<const std::string&>().empty()) {
    return Reject("missing organization claim");
  }
  claims.organization = org->get<std::string>();

  const auto sub = payload->find("sub");
  if (sub == payload->end() || !sub->is_string() ||
      sub->get_ref<const std::string&>().empty()) {
    return Reject("missing sub");
  }
  claims.subject = sub->get<std::string>();
  return claims;
}

absl::StatusOr<std::string> MintJwt(std::string_view key,
                                    std::string_view org_claim,
                                    std::string_view organization,
                                    std::string_view subject, absl::Time now,
                                    absl::Duration ttl) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return s;
  if (absl::Status s = CheckOrgClaimName(org_claim); !s.ok()) return s;
  if (organization.empty() || subject.empty()) {
    return absl::InvalidArgumentError(
        "jwt: organization and subject must be non-empty");
  }
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("jwt: ttl must be positive");
  }
  nlohmann::ordered_json payload = nlohmann::ordered_json::object();
  payload[std::string(org_claim)] = std::string(organization);
  payload["sub"] = std::string(subject);
  payload["iat"] = absl::ToUnixSeconds(now);
  payload["exp"] = absl::ToUnixSeconds(now + ttl);
  std::string payload_json;
  try {
    // strict: invalid UTF-8 throws type_error 316 instead of being replaced.
    payload_json = payload.dump();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError(
        "jwt: claim names and values must be valid UTF-8");
  }
  std::string signing_input =
      absl::StrCat(EncodeBase64Url(R"({"alg":"HS256","typ":"JWT"})"), ".",
                   EncodeBase64Url(payload_json));
  unsigned char mac[kSignatureBytes];
  HmacSha256(reinterpret_cast<const unsigned char*>(key.data()), key.size(),
             signing_input, mac);
  absl::StrAppend(
      &signing_input, ".",
      EncodeBase64Url(std::string_view(reinterpret_cast<char*>(mac),
                                       sizeof(mac))));
  sodium_memzero(mac, sizeof(mac));
  return signing_input;
}

}  // namespace keygate::http
