// fuzz/http_json_codec_fuzzer.cc: the HTTP JSON body decoders
// (lib/http/json_codec.h): ParseJsonObject, then DecodeServiceAccountSpec,
// DecodeServiceAccountPatch and DecodeTokenSpec on what it accepts, and
// DecodePageRequest on fuzzed query values.
//
// Invariants checked on every input:
//   - no crash, no exception escaping, no out-of-bounds read (ASan), and
//     bounded stack on deep nesting;
//   - a refused body says why; an accepted one is an object that nlohmann
//     re-parses to the same value from its own dump;
//   - every decoder failure is InvalidArgument carrying at least one field
//     error, so the host answers 400/422 and never 500;
//   - an accepted token spec has a name and scopes; an accepted page request
//     has a limit in [1, PageRequest::kMaxLimit].
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "keygate/errors.h"
#include "keygate/http/problem.h"
#include "lib/http/json_codec.h"
#include "nlohmann/json.hpp"

namespace {

using keygate::fuzz::FuzzCheck;
using keygate::fuzz::FuzzInput;
namespace http = keygate::http;

constexpr size_t kMaxInputSize = 64 * 1024;

void CheckDecodeFailure(const absl::Status& status) {
  FuzzCheck(absl::IsInvalidArgument(status), "decode failure is InvalidArgument");
  FuzzCheck(!keygate::FieldErrorsOf(status).empty(),
            "decode failure names a field");
  const int http_status = keygate::http::ProblemFromStatus(status).status;
  FuzzCheck(http_status >= 400 && http_status < 500, "decode failure is 4xx");
}

void FuzzBody(std::string_view body) {
  std::string why;
  const std::optional<nlohmann::json> object =
      http::ParseJsonObject(body, why);
  if (!object) {
    FuzzCheck(!why.empty(), "refused body says why");
    return;
  }
  FuzzCheck(object->is_object(), "accepted body is an object");
  const nlohmann::json again = nlohmann::json::parse(
      object->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      nullptr, false);
  FuzzCheck(!again.is_discarded(), "accepted body re-parses");

  if (auto spec = http::DecodeServiceAccountSpec(*object); spec.ok()) {
    FuzzCheck(object->contains("name"), "account spec has a name");
  } else {
    CheckDecodeFailure(spec.status());
  }
  if (auto patch = http::DecodeServiceAccountPatch(*object); !patch.ok()) {
    CheckDecodeFailure(patch.status());
  }
  if (auto spec = http::DecodeTokenSpec(*object); spec.ok()) {
    FuzzCheck(object->contains("name") && object->contains("scopes"),
              "token spec has a name and scopes");
  } else {
    CheckDecodeFailure(spec.status());
  }
}

void FuzzPageRequest(FuzzInput& input) {
  std::optional<std::string> limit;
  std::optional<std::string> cursor;
  if (input.ConsumeBool()) limit = input.ConsumeString(64);
  if (input.ConsumeBool()) cursor = std::string(input.ConsumeRest());
  const auto page = http::DecodePageRequest(limit, cursor);
  if (!page.ok()) {
    CheckDecodeFailure(page.status());
    return;
  }
  FuzzCheck(page->limit >= 1 && page->limit <= keygate::PageRequest::kMaxLimit,
            "page limit in range");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  FuzzInput input(data, size);
  if (input.ConsumeByte() % 4 == 0) {
    FuzzPageRequest(input);
  } else {
    const std::string body(input.ConsumeRest());
    FuzzBody(body);
  }
  return 0;
}
