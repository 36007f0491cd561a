// fuzz/problem_fuzzer.cc: ProblemToJson (RFC 9457 problem details) on
// problems whose strings come from the fuzzer, and ProblemFromStatus on
// arbitrary statuses.
//
// Invariants checked on every input:
//   - the output always parses with nlohmann::json and is an object;
//   - every member that is set is present and, when the string was valid
//     UTF-8, equal to it (invalid UTF-8 is replaced, never emitted raw);
//     empty members are omitted; `errors` keeps its length and order;
//   - an extension appears only when it names no standard or earlier member;
//   - a 5xx problem made from a status never depends on the status message
//     (internal error text never reaches a client).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fuzz/fuzz_util.h"
#include "keygate/http/problem.h"
#include "lib/base/utf8.h"
#include "nlohmann/json.hpp"

namespace {

using keygate::http::Problem;
using keygate::http::ProblemError;
using keygate::fuzz::FuzzCheck;
using keygate::fuzz::FuzzInput;

constexpr size_t kMaxInputSize = 8192;

// CheckMember: `value` set => the member is present, a string, and equal to
// it when it is valid UTF-8; empty => absent.
void CheckMember(const nlohmann::json& j, const char* name,
                 const std::string& value, bool may_be_extension = false) {
  if (value.empty()) {
    FuzzCheck(may_be_extension || !j.contains(name), "empty member omitted");
    return;
  }
  FuzzCheck(j.contains(name) && j[name].is_string(), "set member present");
  if (keygate::utf8::IsValid(value)) {
    FuzzCheck(j[name].get<std::string>() == value, "member round-trips");
  }
}

void FuzzProblemToJson(FuzzInput& input) {
  Problem problem;
  problem.type = input.ConsumeString(128);
  problem.title = input.ConsumeString(64);
  problem.status = input.ConsumeInRange(0, 999);
  problem.detail = input.ConsumeString(256);
  problem.instance = input.ConsumeString(128);
  const int error_count = input.ConsumeInRange(0, 4);
  for (int i = 0; i < error_count; ++i) {
    ProblemError e;
    e.location = input.ConsumeString(64);
    e.message = input.ConsumeString(64);
    if (input.ConsumeBool()) e.value = input.ConsumeString(64);
    problem.errors.push_back(std::move(e));
  }
  const int extension_count = input.ConsumeInRange(0, 4);
  for (int i = 0; i < extension_count; ++i) {
    std::string name = input.ConsumeString(32);
    // Sometimes collide with a standard member on purpose.
    if (input.ConsumeByte() % 4 == 0) name = "detail";
    problem.extensions.emplace_back(std::move(name), input.ConsumeString(64));
  }

  const std::string text = keygate::http::ProblemToJson(problem);
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  FuzzCheck(!j.is_discarded(), "problem JSON parses");
  FuzzCheck(j.is_object(), "problem JSON is an object");
  // An extension may fill a standard member the problem left empty
  // (ProblemToJson only forbids overriding one); see the report.
  auto named = [&](const char* name) {
    for (const auto& ext : problem.extensions) {
      if (ext.first == name) return true;
    }
    return false;
  };
  CheckMember(j, "type", problem.type, named("type"));
  CheckMember(j, "title", problem.title, named("title"));
  CheckMember(j, "detail", problem.detail, named("detail"));
  CheckMember(j, "instance", problem.instance, named("instance"));
  if (problem.status != 0) {
    FuzzCheck(j.contains("status") && j["status"].is_number_integer() &&
                  j["status"].get<int>() == problem.status,
              "status round-trips");
  } else {
    FuzzCheck(named("status") || !j.contains("status"), "zero status omitted");
  }
  if (problem.errors.empty()) {
    FuzzCheck(named("errors") || !j.contains("errors"), "no errors, no member");
  } else {
    FuzzCheck(j.contains("errors") && j["errors"].is_array() &&
                  j["errors"].size() == problem.errors.size(),
              "errors keep their length");
    for (size_t i = 0; i < problem.errors.size(); ++i) {
      const ProblemError& e = problem.errors[i];
      const nlohmann::json& entry = j["errors"][i];
      FuzzCheck(entry.is_object(), "error entry is an object");
      CheckMember(entry, "location", e.location);
      CheckMember(entry, "message", e.message);
      CheckMember(entry, "value", e.value.value_or(""));
    }
  }
  // Extensions: each non-empty one whose name no standard or earlier member
  // holds appears with its value. Invalid UTF-8 names are replaced in the
  // output and may then coincide, so values are compared only when every
  // name is valid.
  std::set<std::string> occupied;
  for (const char* name : {"type", "title", "detail", "instance"}) {
    if (!j.contains(name)) continue;
    occupied.insert(name);
  }
  if (problem.status != 0) occupied.insert("status");
  if (!problem.errors.empty()) occupied.insert("errors");
  bool all_names_valid = true;
  for (const auto& ext : problem.extensions) {
    all_names_valid = all_names_valid && keygate::utf8::IsValid(ext.first);
  }
  for (const auto& [name, value] : problem.extensions) {
    if (name.empty() || value.empty()) continue;
    if (occupied.count(name)) continue;
    occupied.insert(name);
    if (!all_names_valid) continue;
    FuzzCheck(j.contains(name), "extension present");
    if (keygate::utf8::IsValid(value)) {
      FuzzCheck(j[name] == value, "extension round-trips");
    }
  }
}

void FuzzProblemFromStatus(FuzzInput& input) {
  const auto code = static_cast<absl::StatusCode>(input.ConsumeInRange(1, 16));
  const std::string message = input.ConsumeString(256);
  const std::string instance = input.ConsumeString(64);
  keygate::http::ProblemContext context;
  context.instance = instance;
  const Problem problem =
      keygate::http::ProblemFromStatus(absl::Status(code, message), context);
  FuzzCheck(problem.status >= 400 && problem.status <= 599,
            "status problem is an error status");
  const std::string text = keygate::http::ProblemToJson(problem);
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  FuzzCheck(!j.is_discarded() && j.is_object(), "status problem parses");
  if (problem.status >= 500) {
    const Problem other = keygate::http::ProblemFromStatus(
        absl::Status(code, "a different internal message"), context);
    FuzzCheck(keygate::http::ProblemToJson(other) == text,
              "5xx body independent of the status message");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  FuzzInput input(data, size);
  if (input.ConsumeBool()) {
    FuzzProblemToJson(input);
  } else {
    FuzzProblemFromStatus(input);
  }
  return 0;
}
