#include "tests/support/test_pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keygate::test {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CertFree {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

absl::Status OpenSslError(const std::string& what) {
  char reason[256] = "unknown";
  if (unsigned long e = ERR_get_error(); e != 0) {
    ERR_error_string_n(e, reason, sizeof reason);
  }
  ERR_clear_error();
  return absl::InternalError(absl::StrCat("test pki: ", what, ": ", reason));
}

// CertSpec is what one certificate says.
struct CertSpec {
  std::string common_name;
  std::string subject_alt_name;  // X509v3 config text, "" for none
  bool ca = false;
  long not_before_seconds = -3600;  // relative to now
  long not_after_seconds = 7 * 24 * 3600;
};

absl::Status AddExtension(X509* cert, X509* issuer, int nid,
                          const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError(absl::StrCat("extension ", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return OpenSslError("add extension");
  return absl::OkStatus();
}

// MakeCert issues a certificate for `key` per `spec`, signed by
// `issuer_key` as `issuer` (both null: self-signed).
absl::Status MakeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                      EVP_PKEY* issuer_key, Cert* out) {
  Cert cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
    return OpenSslError("serial");
  }
  serial_bytes[0] &= 0x7f;  // positive
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  if (serial == nullptr ||
      BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) ==
          nullptr) {
    BN_free(serial);
    return OpenSslError("serial");
  }
  BN_free(serial);
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                      spec.not_before_seconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                      spec.not_after_seconds) == nullptr) {
    return OpenSslError("validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_ASC,
          reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
          -1, 0) != 1) {
    return OpenSslError("subject");
  }
  X509* signer = issuer != nullptr ? issuer : cert.get();
  EVP_PKEY* signer_key = issuer_key != nullptr ? issuer_key : key;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpenSslError("issuer or key");
  }
  absl::Status s;
  if (spec.ca) {
    s.Update(AddExtension(cert.get(), signer, NID_basic_constraints,
                          "critical,CA:TRUE"));
    s.Update(AddExtension(cert.get(), signer, NID_key_usage,
                          "critical,keyCertSign,cRLSign"));
  } else {
    s.Update(AddExtension(cert.get(), signer, NID_basic_constraints,
                          "critical,CA:FALSE"));
    s.Update(AddExtension(cert.get(), signer, NID_key_usage,
                          "critical,digitalSignature"));
    s.Update(AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth"));
  }
  s.Update(AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  if (issuer != nullptr) {
    s.Update(AddExtension(cert.get(), signer, NID_authority_key_identifier,
                          "keyid:always"));
  }
  if (!spec.subject_alt_name.empty()) {
    s.Update(AddExtension(cert.get(), signer, NID_subject_alt_name,
                          spec.subject_alt_name));
  }
  if (!s.ok()) return s;
  if (X509_sign(cert.get(), signer_key, EVP_sha256()) <= 0) {
    return OpenSslError("sign");
  }
  *out = std::move(cert);
  return absl::OkStatus();
}

absl::Status NewKey(Key* out) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return OpenSslError("EC P-256 key");
  out->reset(key);
  return absl::OkStatus();
}

absl::Status WriteCert(const std::string& path, X509* cert) {
  Bio bio(BIO_new_file(path.c_str(), "w"));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError(absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

absl::Status WriteKey(const std::string& path, EVP_PKEY* key) {
  Bio bio(BIO_new_file(path.c_str(), "w"));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                       nullptr, nullptr) != 1) {
    return OpenSslError(absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

// Leaf issues a leaf per `spec` under (ca, ca_key) and writes it as
// `dir`/`stem`.{crt,key}.
absl::Status Leaf(const std::string& dir, const std::string& stem,
                  const CertSpec& spec, X509* ca, EVP_PKEY* ca_key,
                  TestCertificate* out) {
  Key key;
  Cert cert;
  if (absl::Status s = NewKey(&key); !s.ok()) return s;
  if (absl::Status s = MakeCert(spec, key.get(), ca, ca_key, &cert); !s.ok()) {
    return s;
  }
  out->cert_file = absl::StrCat(dir, "/", stem, ".crt");
  out->key_file = absl::StrCat(dir, "/", stem, ".key");
  if (absl::Status s = WriteCert(out->cert_file, cert.get()); !s.ok()) return s;
  return WriteKey(out->key_file, key.get());
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("test pki: mkdir ", dir));
  TestPki pki;
  Key ca_key, other_ca_key;
  Cert ca, other_ca;
  CertSpec ca_spec{
      .common_name = "keygate test CA", .subject_alt_name = "", .ca = true};
  CertSpec other_ca_spec{.common_name = "keygate untrusted CA",
                         .subject_alt_name = "",
                         .ca = true};
  absl::Status s;
  s.Update(NewKey(&ca_key));
  s.Update(NewKey(&other_ca_key));
  if (!s.ok()) return s;
  s.Update(MakeCert(ca_spec, ca_key.get(), nullptr, nullptr, &ca));
  s.Update(MakeCert(other_ca_spec, other_ca_key.get(), nullptr, nullptr,
                    &other_ca));
  if (!s.ok()) return s;
  pki.ca_file = absl::StrCat(dir, "/ca.crt");
  if (s = WriteCert(pki.ca_file, ca.get()); !s.ok()) return s;

  const CertSpec localhost{.common_name = "localhost",
                           .subject_alt_name = "DNS:localhost,IP:127.0.0.1"};
  CertSpec expired = localhost;
  expired.not_before_seconds = -3 * 24 * 3600;
  expired.not_after_seconds = -24 * 3600;
  const CertSpec other_name{.common_name = "other.example",
                            .subject_alt_name = "DNS:other.example"};
  const CertSpec cn_only{.common_name = "localhost", .subject_alt_name = ""};
  s.Update(Leaf(dir, "localhost", localhost, ca.get(), ca_key.get(),
                &pki.localhost));
  s.Update(Leaf(dir, "untrusted", localhost, other_ca.get(),
                other_ca_key.get(), &pki.untrusted));
  s.Update(Leaf(dir, "other_name", other_name, ca.get(), ca_key.get(),
                &pki.other_name));
  s.Update(Leaf(dir, "cn_only", cn_only, ca.get(), ca_key.get(),
                &pki.cn_only));
  s.Update(Leaf(dir, "expired", expired, ca.get(), ca_key.get(),
                &pki.expired));
  if (!s.ok()) return s;
  return pki;
}

}  // namespace keygate::test
