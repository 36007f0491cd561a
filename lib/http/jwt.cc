// lib/http/jwt.cc: strict HS256 JWT verification and minting.
#include "keygate/http/jwt.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "keygate/secret_string.h"
#include "lib/base/utf8.h"
#include "lib/crypto/sodium.h"
#include "nlohmann/json.hpp"

namespace keygate::http {
namespace {

using Json = nlohmann::json;

constexpr size_t kSignatureBytes = crypto_auth_hmacsha256_BYTES;  // 32
static_assert(kSignatureBytes == 32, "crypto_verify_32 needs 32 bytes");

absl::Status EnsureSodium() { return crypto::InitSodium(); }

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

// JsonVerdict is what StrictJsonChecker found in a JWT segment.
enum class JsonVerdict { kOk, kMalformed, kTooDeep, kDuplicateMember };

// StrictJsonChecker is an nlohmann SAX handler that builds nothing and stops
// the parse at the first nesting deeper than kMaxJwtJsonDepth or the first
// member name seen twice in one object (nlohmann's DOM keeps the last one
// silently: a parser differential with any reader that keeps the first).
class StrictJsonChecker {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  JsonVerdict verdict() const { return verdict_; }

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return Fail(JsonVerdict::kMalformed); }
  bool start_object(std::size_t) { return Enter(); }
  bool key(string_t& name) {
    if (!open_.back().insert(name).second) {
      return Fail(JsonVerdict::kDuplicateMember);
    }
    return true;
  }
  bool end_object() { return Leave(); }
  bool start_array(std::size_t) { return Enter(); }
  bool end_array() { return Leave(); }
  bool parse_error(std::size_t, const std::string&, const Json::exception&) {
    return Fail(JsonVerdict::kMalformed);
  }

 private:
  bool Enter() {
    if (open_.size() >= static_cast<size_t>(kMaxJwtJsonDepth)) {
      return Fail(JsonVerdict::kTooDeep);
    }
    open_.emplace_back();  // arrays get a set too; it stays empty
    return true;
  }
  bool Leave() {
    open_.pop_back();
    return true;
  }
  bool Fail(JsonVerdict verdict) {
    if (verdict_ == JsonVerdict::kOk) verdict_ = verdict;
    return false;
  }

  // Member names of each open object or array, outermost first.
  std::vector<std::set<std::string>> open_;
  JsonVerdict verdict_ = JsonVerdict::kOk;
};

// ParseObject checks `text` with StrictJsonChecker, then parses it as a JSON
// object without exceptions (the checked depth bounds the DOM). On failure
// returns the Unauthenticated reason: "json too deep", "duplicate member",
// or "bad <what>" for anything else, including invalid UTF-8, which
// nlohmann's lexer refuses.
absl::StatusOr<Json> ParseObject(std::string_view text, std::string_view what) {
  StrictJsonChecker checker;
  const bool parsed = Json::sax_parse(text.begin(), text.end(), &checker,
                                      Json::input_format_t::json,
                                      /*strict=*/true);
  JsonVerdict verdict = checker.verdict();
  if (!parsed && verdict == JsonVerdict::kOk) verdict = JsonVerdict::kMalformed;
  switch (verdict) {
    case JsonVerdict::kOk:
      break;
    case JsonVerdict::kTooDeep:
      return Reject("json too deep");
    case JsonVerdict::kDuplicateMember:
      return Reject("duplicate member");
    case JsonVerdict::kMalformed:
      return Reject(absl::StrCat("bad ", std::string(what)));
  }
  Json j = Json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Reject(absl::StrCat("bad ", std::string(what)));
  }
  return j;
}

// NumericDate converts a NumericDate claim (RFC 7519: seconds since the
// epoch, an integer or a decimal) to a time; nullopt unless it is a finite
// JSON number from 0 to kMaxJwtNumericDate.
std::optional<absl::Time> NumericDate(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(kMaxJwtNumericDate)) return std::nullopt;
    return absl::FromUnixSeconds(static_cast<int64_t>(v));
  }
  if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < 0 || v > kMaxJwtNumericDate) return std::nullopt;
    return absl::FromUnixSeconds(v);
  }
  if (value.is_number_float()) {
    const double v = value.get<double>();
    // Written so that NaN fails too.
    if (!(v >= 0.0 && v <= static_cast<double>(kMaxJwtNumericDate))) {
      return std::nullopt;
    }
    return absl::UnixEpoch() + absl::Seconds(v);
  }
  return std::nullopt;
}

bool IsReservedClaim(std::string_view name) {
  return name == "sub" || name == "exp" || name == "nbf" || name == "iat" ||
         name == "iss" || name == "aud";
}

absl::Status CheckOrgClaimName(std::string_view org_claim) {
  if (org_claim.empty() || IsReservedClaim(org_claim)) {
    return absl::InvalidArgumentError(
        "jwt: the organization claim name must be non-empty and not one of "
        "sub, exp, nbf, iat, iss, aud");
  }
  if (!utf8::IsValid(org_claim)) {
    return absl::InvalidArgumentError(
        "jwt: the organization claim name must be valid UTF-8");
  }
  return absl::OkStatus();
}

// CheckOptionalText checks an optional issuer or audience setting.
absl::Status CheckOptionalText(const std::optional<std::string>& value,
                               std::string_view what) {
  if (value.has_value() && (value->empty() || !utf8::IsValid(*value))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "jwt: the ", std::string(what),
        " must be non-empty valid UTF-8 when set"));
  }
  return absl::OkStatus();
}

absl::Status CheckOptions(const JwtVerifierOptions& options) {
  if (absl::Status s = CheckOrgClaimName(options.org_claim); !s.ok()) return s;
  if (options.max_lifetime <= absl::ZeroDuration() ||
      options.max_lifetime > kMaxJwtMaxLifetime) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwt: the maximum JWT lifetime must be positive and at "
                     "most ",
                     absl::FormatDuration(kMaxJwtMaxLifetime)));
  }
  if (options.leeway < absl::ZeroDuration() ||
      options.leeway > kMaxJwtLeeway) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwt: the JWT clock leeway must be from 0 to ",
                     absl::FormatDuration(kMaxJwtLeeway)));
  }
  if (absl::Status s = CheckOptionalText(options.issuer, "JWT issuer");
      !s.ok()) {
    return s;
  }
  return CheckOptionalText(options.audience, "JWT audience");
}

// ErrnoStatus maps an errno of opening or reading the JWT secret file to a
// status whose message names `path` (never the key).
absl::Status ErrnoStatus(int err, std::string_view what,
                         const std::string& path) {
  const std::string msg = absl::StrCat("jwt: ", std::string(what), " ", path,
                                       ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case ENXIO:
      return absl::InvalidArgumentError(msg);
    case EINTR:
    case EAGAIN:
    case EIO:
    case ENFILE:
    case EMFILE:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Fd closes a file descriptor when destroyed.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// WipedBytes is scratch memory for key bytes, wiped when destroyed.
class WipedBytes {
 public:
  explicit WipedBytes(size_t n) : data_(new char[n]()), size_(n) {}
  ~WipedBytes() { sodium_memzero(data_.get(), size_); }
  WipedBytes(const WipedBytes&) = delete;
  WipedBytes& operator=(const WipedBytes&) = delete;
  char* data() { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_;
};

}  // namespace

void JwtVerifier::KeyDeleter::operator()(unsigned char* p) const {
  sodium_free(p);  // wipes before freeing
}

absl::StatusOr<SecretString> ReadJwtSecretFile(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("jwt: the JWT secret file path is empty");
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        "jwt: the JWT secret file path contains a NUL byte");
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat below
  // refuses it. It changes nothing for a regular file.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    return ErrnoStatus(errno, "cannot open the JWT secret file", path);
  }
  // Check the file actually opened, not the path (which may change).
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoStatus(errno, "cannot stat the JWT secret file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "jwt: the JWT secret file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "jwt: the JWT secret file %s has mode %04o, which lets group or "
        "others access it; whoever can read it can mint a JWT for any "
        "organization: run `chmod 600 %s`",
        path, st.st_mode & 07777, path));
  }
  // The largest key, its line ending, and one byte to detect a longer file;
  // never more, so a wrong path cannot exhaust memory.
  WipedBytes buf(kMaxJwtKeyBytes + 3);
  size_t size = 0;
  while (size < buf.size()) {
    const ssize_t n = ::read(fd.get(), buf.data() + size, buf.size() - size);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read the JWT secret file", path);
    }
    size += static_cast<size_t>(n);
  }
  // Trim one line ending: "\n" or "\r\n".
  if (size > 0 && buf.data()[size - 1] == '\n') {
    --size;
    if (size > 0 && buf.data()[size - 1] == '\r') --size;
  }
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwt: the JWT secret file ", path, " is empty"));
  }
  if (size < kMinJwtKeyBytes || size > kMaxJwtKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "jwt: the JWT secret in ", path, " must be ", kMinJwtKeyBytes, "-",
        kMaxJwtKeyBytes, " bytes; HS256 needs at least ", kMinJwtKeyBytes,
        " (e.g. `(umask 077; head -c 48 /dev/urandom | base64 > ", path,
        ")`)"));
  }
  return SecretString(std::string_view(buf.data(), size));
}

absl::StatusOr<JwtVerifier> JwtVerifier::FromKey(
    std::string_view key, const JwtVerifierOptions& options) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return s;
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
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
  return JwtVerifier(std::move(owned), key.size(), options);
}

absl::StatusOr<JwtVerifier> JwtVerifier::FromKey(std::string_view key,
                                                 std::string org_claim) {
  JwtVerifierOptions options;
  options.org_claim = std::move(org_claim);
  return FromKey(key, options);
}

absl::StatusOr<JwtVerifier> JwtVerifier::FromSecretFile(
    const std::string& path, const JwtVerifierOptions& options) {
  // Options first: a bad flag is reported before the file is touched.
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  absl::StatusOr<SecretString> key = ReadJwtSecretFile(path);
  if (!key.ok()) return key.status();
  return FromKey(key->view(), options);
}

absl::StatusOr<JwtVerifier> JwtVerifier::FromSecretFile(
    const std::string& path, std::string org_claim) {
  JwtVerifierOptions options;
  options.org_claim = std::move(org_claim);
  return FromSecretFile(path, options);
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
  absl::StatusOr<Json> header = ParseObject(header_json, "header");
  if (!header.ok()) return header.status();
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

  absl::StatusOr<Json> payload = ParseObject(payload_json, "payload");
  if (!payload.ok()) return payload.status();

  // Dates: each a sane NumericDate first, then the time rules.
  JwtClaims claims;
  const auto exp = payload->find("exp");
  if (exp == payload->end()) return Reject("missing exp");
  const std::optional<absl::Time> expires_at = NumericDate(*exp);
  if (!expires_at.has_value()) return Reject("bad exp");
  claims.expires_at = *expires_at;
  if (const auto nbf = payload->find("nbf"); nbf != payload->end()) {
    claims.not_before = NumericDate(*nbf);
    if (!claims.not_before.has_value()) return Reject("bad nbf");
  }
  if (const auto iat = payload->find("iat"); iat != payload->end()) {
    claims.issued_at = NumericDate(*iat);
    if (!claims.issued_at.has_value()) return Reject("bad iat");
  }
  const absl::Duration leeway = options_.leeway;
  if (!(now < claims.expires_at + leeway)) return Reject("expired");
  if (claims.not_before.has_value() && now + leeway < *claims.not_before) {
    return Reject("not yet valid");
  }
  if (claims.issued_at.has_value() && *claims.issued_at > now + leeway) {
    return Reject("issued in the future");
  }
  if (claims.expires_at - now > options_.max_lifetime + leeway) {
    return Reject("lifetime too long");
  }
  if (claims.issued_at.has_value() &&
      claims.expires_at - *claims.issued_at > options_.max_lifetime) {
    return Reject("lifetime too long");
  }

  if (options_.issuer.has_value()) {
    const auto iss = payload->find("iss");
    if (iss == payload->end()) return Reject("missing iss");
    if (!iss->is_string() ||
        iss->get_ref<const std::string&>() != *options_.issuer) {
      return Reject("issuer mismatch");
    }
  }

  const auto aud = payload->find("aud");
  if (!options_.audience.has_value()) {
    // Issued for a named audience, and this verifier is none (RFC 7519
    // section 4.1.3: MUST be rejected).
    if (aud != payload->end()) return Reject("unexpected aud");
  } else {
    if (aud == payload->end()) return Reject("missing aud");
    bool found = false;
    if (aud->is_string()) {
      found = aud->get_ref<const std::string&>() == *options_.audience;
    } else if (aud->is_array()) {
      for (const Json& entry : *aud) {
        if (!entry.is_string()) return Reject("bad aud");
        found = found ||
                entry.get_ref<const std::string&>() == *options_.audience;
      }
    } else {
      return Reject("bad aud");
    }
    if (!found) return Reject("audience mismatch");
  }

  const auto org = payload->find(options_.org_claim);
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
                                    std::string_view organization,
                                    std::string_view subject, absl::Time now,
                                    absl::Duration ttl,
                                    const MintJwtOptions& options) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return s;
  if (absl::Status s = CheckOrgClaimName(options.org_claim); !s.ok()) return s;
  if (absl::Status s = CheckOptionalText(options.issuer, "issuer"); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckOptionalText(options.audience, "audience");
      !s.ok()) {
    return s;
  }
  if (organization.empty() || subject.empty()) {
    return absl::InvalidArgumentError(
        "jwt: organization and subject must be non-empty");
  }
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("jwt: ttl must be positive");
  }
  nlohmann::ordered_json payload = nlohmann::ordered_json::object();
  payload[options.org_claim] = std::string(organization);
  payload["sub"] = std::string(subject);
  if (options.issuer.has_value()) payload["iss"] = *options.issuer;
  if (options.audience.has_value()) payload["aud"] = *options.audience;
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

absl::StatusOr<std::string> MintJwt(std::string_view key,
                                    std::string_view org_claim,
                                    std::string_view organization,
                                    std::string_view subject, absl::Time now,
                                    absl::Duration ttl) {
  MintJwtOptions options;
  options.org_claim = std::string(org_claim);
  return MintJwt(key, organization, subject, now, ttl, options);
}

}  // namespace keygate::http
