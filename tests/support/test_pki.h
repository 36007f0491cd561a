// tests/support/test_pki.h: certificates for TLS tests, made at run time
// with OpenSSL (nothing secret or expiring is checked in).
//
// MakeTestPki writes into `dir` a test CA and leaf certificates, all with
// EC P-256 keys and SHA-256 signatures, as PEM files: the CA's certificate
// (ca_file: what a client trusts) and, per leaf, a certificate file (the
// leaf only) and an unencrypted key file. Thread-compatible.
#ifndef KEYGATE_TESTS_SUPPORT_TEST_PKI_H_
#define KEYGATE_TESTS_SUPPORT_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"

namespace keygate::test {

// TestCertificate is a leaf's certificate and key, as PEM file paths.
struct TestCertificate {
  std::string cert_file;
  std::string key_file;
};

// TestPki is the set MakeTestPki writes.
struct TestPki {
  std::string ca_file;  // the trusted test CA's certificate
  // SAN DNS:localhost and IP:127.0.0.1, issued by the CA, valid now.
  TestCertificate localhost;
  // The same SANs, issued by another CA that ca_file does not hold.
  TestCertificate untrusted;
  // SAN DNS:other.example only, issued by the CA.
  TestCertificate other_name;
  // Subject CN=localhost and no subjectAltName at all, issued by the CA.
  TestCertificate cn_only;
  // Like `localhost`, but it expired a day ago.
  TestCertificate expired;
};

// MakeTestPki creates `dir` if needed and writes the files there. Internal
// with OpenSSL's reason if any step fails.
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

}  // namespace keygate::test

#endif  // KEYGATE_TESTS_SUPPORT_TEST_PKI_H_
