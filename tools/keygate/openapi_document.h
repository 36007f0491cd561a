// tools/keygate/openapi_document.h: the OpenAPI document `keygate serve`
// publishes at GET /openapi.json.
#ifndef KEYGATE_TOOLS_KEYGATE_OPENAPI_DOCUMENT_H_
#define KEYGATE_TOOLS_KEYGATE_OPENAPI_DOCUMENT_H_

#include <string_view>

namespace keygate::tool {

// OpenApiDocument returns docs/openapi.json, byte for byte: CMake embeds the
// file at configure time (tools/keygate/openapi_document.cc.in), so the
// repository copy is the single source of truth. The view is static.
std::string_view OpenApiDocument();

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_OPENAPI_DOCUMENT_H_
