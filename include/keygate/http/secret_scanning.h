// keygate/http/secret_scanning.h: the leaked-token report receiver
// (POST /secret-scanning/report).
//
// A secret scanner (GitHub's secret scanning partner program) that finds
// strings looking like keygate tokens in public code POSTs them here as a
// JSON array of matches, {token, type, url, source}, signed with its ECDSA
// key (keygate/http/scanner_signature.h). For each distinct reported token
// that is a live keygate token (Store::Verify succeeds), the receiver revokes
// it, whatever its organization (scanners report across tenants), with
// actor kRevokedByLeak, and answers GitHub's feedback array
// [{token_hash, token_type, label}], token_hash being the hex SHA-256 of the
// token and label "true_positive" for a token it found live,
// "false_positive" otherwise. docs/secret-scanning.md has the decisions.
//
// The route is off unless the host enables it: ManagementApiOptions::
// secret_scanning (absent, POST /secret-scanning/report is an unknown
// route, 404). It takes no bearer credential: the signature is the
// credential.
#ifndef KEYGATE_HTTP_SECRET_SCANNING_H_
#define KEYGATE_HTTP_SECRET_SCANNING_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "keygate/http/message.h"
#include "keygate/http/problem.h"
#include "keygate/http/scanner_signature.h"
#include "keygate/store.h"

namespace keygate::http {

// SecretScanningOptions configures a SecretScanningReceiver.
struct SecretScanningOptions {
  // Most matches one report may carry; a longer report is refused whole
  // (422) before any lookup. Default: 1000.
  size_t max_matches_per_report = 1000;
  // Longest `type` member accepted (it is echoed as token_type). Default: 256.
  size_t max_type_bytes = 256;
};

// SecretScanningReceiver answers signed leaked-token reports. Handle is
// const and safe for concurrent use; `store` must outlive the receiver.
class SecretScanningReceiver {
 public:
  SecretScanningReceiver(Store* store, ScannerSignatureVerifier verifier,
                         SecretScanningOptions options = {});

  // Handle answers one report. REQUIRES: the host already bounded
  // request.body (ManagementApi does, with max_body_bytes: 413) and routed
  // a POST here. Order: the signature headers (exactly one each; any
  // failure is the same 401 problem and changes nothing), then the media
  // type (application/json, else 415), then the body (400 if not JSON; 422
  // with errors[] at body[i].token ... if not an array of at most
  // max_matches_per_report objects each with a non-empty string `token` and
  // a string `type`, or nested deeper than 16 levels), all before any
  // lookup. Then each distinct token: one of another prefix or with a bad
  // checksum is a false positive without any store call; else Store::Verify,
  // and a live token is revoked (Store::RevokeToken, actor
  // kRevokedByLeak). A store failure on revoke is its problem (503 for
  // Unavailable, else 500): tokens revoked before it stay revoked, and a
  // retried report then reports them false positives. 200 with the
  // feedback array otherwise, one entry per distinct token in first-seen
  // order.
  //
  // A reported token value is never logged or echoed (only its SHA-256);
  // copies the receiver makes are wiped. If `auth_failure` is not null it
  // gets the fixed reason of a refused signature; if `log_fields` is not
  // null, " scanner_matches=<n> scanner_revoked=<n>" is appended to it.
  Response Handle(const Request& request,
                  std::string_view problem_type_base = kDefaultProblemTypeBase,
                  std::string* auth_failure = nullptr,
                  std::string* log_fields = nullptr) const;

 private:
  Store* store_;
  ScannerSignatureVerifier verifier_;
  SecretScanningOptions options_;
};

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_SECRET_SCANNING_H_
