// lib/http/scanner_signature.cc: ECDSA P-256 / SHA-256 signatures of secret
// scanner reports, checked with OpenSSL's EVP interface.
#include "keygate/http/scanner_signature.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace keygate::http {
namespace {

using nlohmann::json;

// Base64 of a DER ECDSA P-256 signature is at most 96 characters (72
// bytes); anything much longer is not one.
constexpr size_t kMaxSignatureBase64Size = 256;
constexpr size_t kMaxSignatureDerSize = 192;

constexpr char kPemBegin[] = "-----BEGIN PUBLIC KEY-----";
constexpr char kPemEnd[] = "-----END PUBLIC KEY-----";

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

absl::Status Unauthenticated(std::string_view reason) {
  return absl::UnauthenticatedError(
      absl::StrCat("scanner signature: ", std::string(reason)));
}

bool IsPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string_view TrimWhitespace(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// ParseP256Key parses one PEM "PUBLIC KEY" block (SubjectPublicKeyInfo) and
// accepts it only if it is an EC key on P-256. `why` gets a fixed reason.
PkeyPtr ParseP256Key(std::string_view pem, std::string& why) {
  pem = TrimWhitespace(pem);
  if (pem.substr(0, sizeof(kPemBegin) - 1) != kPemBegin ||
      pem.size() < sizeof(kPemEnd) - 1 ||
      pem.substr(pem.size() - (sizeof(kPemEnd) - 1)) != kPemEnd ||
      pem.find(kPemBegin, 1) != std::string_view::npos ||
      pem.find("-----BEGIN", 1) != std::string_view::npos) {
    why = "must be exactly one PEM \"PUBLIC KEY\" block";
    return nullptr;
  }
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    why = "out of memory";
    return nullptr;
  }
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    why = "not a valid PEM public key";
    return nullptr;
  }
  if (!EVP_PKEY_is_a(key.get(), "EC")) {
    why = "not an EC key (P-256 ECDSA keys only)";
    return nullptr;
  }
  char group[64] = {};
  size_t group_size = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                     group, sizeof(group), &group_size) != 1 ||
      std::string_view(group, group_size) != SN_X9_62_prime256v1) {
    ERR_clear_error();
    why = "not a P-256 key (prime256v1 only)";
    return nullptr;
  }
  return key;
}

absl::Status ReadBoundedFile(const std::string& path, std::string& out) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "secret scanning: the keys file path is empty");
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        "secret scanning: the keys file path contains a NUL byte");
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat refuses it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    std::string message =
        absl::StrCat("secret scanning: cannot open the keys file ", path, ": ",
                     std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(message);
    }
    return absl::InvalidArgumentError(message);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret scanning: cannot stat the keys file ", path, ": ",
                     std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secret scanning: the keys file ", path, " is not a regular file"));
  }
  // Read at most one byte past the bound, so a wrong path (a huge file)
  // cannot exhaust memory.
  out.assign(kMaxScannerKeysFileBytes + 1, '\0');
  size_t size = 0;
  while (size < out.size()) {
    const ssize_t n = ::read(fd, out.data() + size, out.size() - size);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("secret scanning: cannot read the keys file ", path,
                       ": ", std::strerror(errno)));
    }
    size += static_cast<size_t>(n);
  }
  if (size > kMaxScannerKeysFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret scanning: the keys file ", path,
                     " is larger than ", kMaxScannerKeysFileBytes, " bytes"));
  }
  out.resize(size);
  return absl::OkStatus();
}

}  // namespace

struct ScannerSignatureVerifier::State {
  struct Key {
    std::string identifier;
    PkeyPtr key;
  };
  std::vector<Key> keys;
};

ScannerSignatureVerifier::ScannerSignatureVerifier(
    std::shared_ptr<const State> state)
    : state_(std::move(state)) {}

absl::StatusOr<ScannerSignatureVerifier> ScannerSignatureVerifier::FromKeysFile(
    const std::string& path) {
  std::string document;
  if (absl::Status read = ReadBoundedFile(path, document); !read.ok()) {
    return read;
  }
  absl::StatusOr<ScannerSignatureVerifier> verifier = FromKeysJson(document);
  if (!verifier.ok()) {
    return absl::Status(verifier.status().code(),
                        absl::StrCat("secret scanning: the keys file ", path,
                                     ": ", verifier.status().message()));
  }
  return verifier;
}

absl::StatusOr<ScannerSignatureVerifier> ScannerSignatureVerifier::FromKeysJson(
    std::string_view document) {
  if (document.size() > kMaxScannerKeysFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "keys document larger than ", kMaxScannerKeysFileBytes, " bytes"));
  }
  const json parsed = json::parse(document.begin(), document.end(), nullptr,
                                  /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError("keys document: not valid JSON");
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(
        "keys document: must be a JSON object with \"public_keys\"");
  }
  const auto list = parsed.find("public_keys");
  if (list == parsed.end() || !list->is_array() || list->empty()) {
    return absl::InvalidArgumentError(
        "keys document: \"public_keys\" must be a non-empty array");
  }
  if (list->size() > kMaxScannerKeys) {
    return absl::InvalidArgumentError(absl::StrCat(
        "keys document: more than ", kMaxScannerKeys, " public keys"));
  }
  auto state = std::make_shared<State>();
  for (size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    const std::string where = absl::StrCat("public_keys[", i, "]");
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": must be an object"));
    }
    const auto id = entry.find("key_identifier");
    if (id == entry.end() || !id->is_string() ||
        id->get_ref<const std::string&>().empty() ||
        id->get_ref<const std::string&>().size() >
            kMaxScannerKeyIdentifierSize ||
        !IsPrintableAscii(id->get_ref<const std::string&>())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".key_identifier: must be 1-", kMaxScannerKeyIdentifierSize,
          " printable ASCII characters"));
    }
    const std::string& identifier = id->get_ref<const std::string&>();
    for (const State::Key& seen : state->keys) {
      if (seen.identifier == identifier) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".key_identifier: repeats an earlier key"));
      }
    }
    const auto current = entry.find("is_current");
    if (current != entry.end() && !current->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".is_current: must be a boolean"));
    }
    const auto pem = entry.find("key");
    if (pem == entry.end() || !pem->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".key: must be a PEM string"));
    }
    std::string why;
    PkeyPtr key = ParseP256Key(pem->get_ref<const std::string&>(), why);
    if (key == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".key: ", why));
    }
    state->keys.push_back({identifier, std::move(key)});
  }
  return ScannerSignatureVerifier(std::move(state));
}

absl::Status ScannerSignatureVerifier::Verify(std::string_view key_identifier,
                                              std::string_view signature_base64,
                                              std::string_view body) const {
  if (state_ == nullptr) return Unauthenticated("no keys");
  if (key_identifier.empty() ||
      key_identifier.size() > kMaxScannerKeyIdentifierSize) {
    return Unauthenticated("unknown key identifier");
  }
  EVP_PKEY* key = nullptr;
  for (const State::Key& k : state_->keys) {
    if (k.identifier == key_identifier) key = k.key.get();
  }
  if (key == nullptr) return Unauthenticated("unknown key identifier");
  if (signature_base64.empty() ||
      signature_base64.size() > kMaxSignatureBase64Size) {
    return Unauthenticated("malformed signature");
  }
  unsigned char der[kMaxSignatureDerSize];
  size_t der_size = 0;
  const char* end = nullptr;
  if (sodium_base642bin(der, sizeof(der), signature_base64.data(),
                        signature_base64.size(), nullptr, &der_size, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != signature_base64.data() + signature_base64.size() ||
      der_size == 0) {
    return Unauthenticated("malformed signature");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return absl::ResourceExhaustedError("out of memory");
  // EVP_DigestVerify returns 1 for a good signature, 0 for a bad one and a
  // negative value for a malformed one (OpenSSL refuses DER that is not the
  // canonical encoding); only 1 passes.
  int verified =
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key);
  if (verified == 1) {
    verified = EVP_DigestVerify(
        ctx.get(), der, der_size,
        reinterpret_cast<const unsigned char*>(body.data()), body.size());
  }
  ERR_clear_error();
  if (verified != 1) return Unauthenticated("bad signature");
  return absl::OkStatus();
}

size_t ScannerSignatureVerifier::key_count() const {
  return state_ == nullptr ? 0 : state_->keys.size();
}

}  // namespace keygate::http
