// keygate/http/http.h: the whole public surface of keygate::http, the
// framework-neutral host adapter (CMake target keygate::http).
//
//   message.h         Request / Response values a host's server converts to
//   management_api.h  ManagementApi: the token API routes, Handle(request)
//   caller.h          CallerResolver and the built-in token / JWT resolvers
//   bearer.h          VerifyBearer for a host's own routes; ProblemResponse
//   jwt.h             strict HS256 JWT verification and minting
//   problem.h         RFC 9457 problem details for every keygate status
//   secret_scanning.h SecretScanningReceiver: signed leaked-token reports
//   scanner_signature.h  ScannerSignatureVerifier: the scanner's ECDSA keys
#ifndef KEYGATE_HTTP_HTTP_H_
#define KEYGATE_HTTP_HTTP_H_

#include "keygate/http/bearer.h"
#include "keygate/http/caller.h"
#include "keygate/http/jwt.h"
#include "keygate/http/management_api.h"
#include "keygate/http/message.h"
#include "keygate/http/problem.h"
#include "keygate/http/scanner_signature.h"
#include "keygate/http/secret_scanning.h"

#endif  // KEYGATE_HTTP_HTTP_H_
