// lib/http/openapi_document.h: the OpenAPI document the host adapter
// publishes at GET /openapi.json.
#ifndef KEYGATE_LIB_HTTP_OPENAPI_DOCUMENT_H_
#define KEYGATE_LIB_HTTP_OPENAPI_DOCUMENT_H_

#include <string_view>

namespace keygate::http {

// OpenApiDocument returns docs/openapi.json, byte for byte: CMake embeds the
// file at configure time (lib/http/openapi_document.cc.in), so the
// repository copy is the single source of truth. The view is static.
std::string_view OpenApiDocument();

}  // namespace keygate::http

#endif  // KEYGATE_LIB_HTTP_OPENAPI_DOCUMENT_H_
