// tools/keygate/output.h: how the `keygate` command prints results and
// errors, for people (aligned text) and for scripts (--json).
#ifndef KEYGATE_TOOLS_KEYGATE_OUTPUT_H_
#define KEYGATE_TOOLS_KEYGATE_OUTPUT_H_

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "keygate/principal.h"
#include "keygate/service_account.h"
#include "keygate/token.h"
#include "nlohmann/json.hpp"

namespace keygate::tool {

// Process exit codes of the `keygate` command.
inline constexpr int kExitOk = 0;
// The operation failed or was refused: invalid token, not found, conflict,
// invalid value, store in use, ...
inline constexpr int kExitFailure = 1;
// The command line could not be parsed (unknown command or flag, missing or
// malformed argument).
inline constexpr int kExitUsage = 2;

// FormatHumanTime formats `t` for tables: RFC 3339 UTC, whole seconds.
std::string FormatHumanTime(absl::Time t);

// Printable returns `text` with control characters and invalid UTF-8
// replaced by '?', so stored text cannot drive the terminal.
std::string Printable(std::string_view text);

// RedactTokens returns `text` with anything shaped like a token (a 1-16 char
// [a-z0-9] prefix, '_', 40+ base62 chars) replaced by "<prefix>_<redacted>",
// for messages that echo user input.
std::string RedactTokens(std::string_view text);

// DumpJson serializes `value` (2-space indent). Invalid UTF-8 is replaced,
// never thrown about.
std::string DumpJson(const nlohmann::json& value);
std::string DumpJson(const nlohmann::ordered_json& value);

// The JSON the command prints has exactly the shape of `keygate serve`'s
// wire format (tools/keygate/http_json.h): the same camelCase members in the
// same order, times as RFC 3339 UTC with a "Z" suffix at microsecond
// precision, and absent optional members as null.


// PageOutput is {items: [...], nextCursor} with nextCursor null on the last
// page.
template <typename T, typename Encoder>
nlohmann::ordered_json PageOutput(const std::vector<T>& items,
                                  const std::string& next_cursor,
                                  Encoder encode) {
  nlohmann::ordered_json out;
  out["items"] = nlohmann::ordered_json::array();
  for (const T& item : items) out["items"].push_back(encode(item));
  if (next_cursor.empty()) {
    out["nextCursor"] = nullptr;
  } else {
    out["nextCursor"] = next_cursor;
  }
  return out;
}

// Table prints rows of text as aligned columns under a header row.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  // AddRow appends a row; cells are passed through Printable.
  void AddRow(std::vector<std::string> cells);
  // Print writes the header and rows, columns separated by two spaces.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// ErrorJson builds {"error":{"code","message","fields":[{field,message,
// value}]}} for `status`.
nlohmann::json ErrorJson(const absl::Status& status);

// PrintError writes `status` to stderr: "keygate: <message>" plus one line
// per field error, or ErrorJson(status) when `json` is set. Returns
// kExitFailure.
int PrintError(const absl::Status& status, bool json);

// PrintUsageError writes a command-line parse error to stderr the same way,
// with code "USAGE" and a pointer to --help. Returns kExitUsage.
int PrintUsageError(std::string_view message, bool json);

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_OUTPUT_H_
