// tools/keygate/output.cc: text and JSON rendering for the `keygate` command.
#include "tools/keygate/output.h"

#include <algorithm>
#include <cstddef>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "keygate/errors.h"
#include "lib/base/utf8.h"

namespace keygate::tool {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Longest message printed; longer ones (e.g. echoing a huge argument) are
// cut.
constexpr size_t kMaxMessageBytes = 1024;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

// LooksLikeToken reports whether `word` (a maximal run of [A-Za-z0-9_]) has
// a token's shape: a 1-16 char [a-z0-9] prefix, '_', then 40+ base62 chars.
bool LooksLikeToken(std::string_view word) {
  const size_t underscore = word.find('_');
  if (underscore == std::string_view::npos || underscore == 0 ||
      underscore > 16) {
    return false;
  }
  for (size_t i = 0; i < underscore; ++i) {
    if (!IsAlnum(word[i]) || (word[i] >= 'A' && word[i] <= 'Z')) return false;
  }
  const std::string_view secret = word.substr(underscore + 1);
  if (secret.size() < 40) return false;
  for (const char c : secret) {
    if (!IsAlnum(c)) return false;
  }
  return true;
}

// Shorten cuts `text` to kMaxMessageBytes.
std::string_view Shorten(std::string_view text) {
  return text.size() <= kMaxMessageBytes ? text
                                         : text.substr(0, kMaxMessageBytes);
}

}  // namespace

std::string FormatHumanTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  uint32_t cp;
  for (size_t i = 0; i < text.size();) {
    const size_t length = utf8::Decode(text, i, &cp);
    if (length == 0 || utf8::IsUnsafeCodePoint(cp)) {
      out.push_back('?');
      i += length == 0 ? 1 : length;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

std::string RedactTokens(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (!IsAlnum(text[i]) && text[i] != '_') {
      out.push_back(text[i++]);
      continue;
    }
    size_t end = i;
    while (end < text.size() && (IsAlnum(text[end]) || text[end] == '_')) {
      ++end;
    }
    const std::string_view word = text.substr(i, end - i);
    if (LooksLikeToken(word)) {
      out.append(word.substr(0, word.find('_') + 1));
      out.append("<redacted>");
    } else {
      out.append(word);
    }
    i = end;
  }
  return out;
}

std::string DumpJson(const json& value) {
  return value.dump(2, ' ', /*ensure_ascii=*/false,
                    json::error_handler_t::replace);
}

std::string DumpJson(const ordered_json& value) {
  return value.dump(2, ' ', /*ensure_ascii=*/false,
                    ordered_json::error_handler_t::replace);
}

Table::Table(std::vector<std::string> header) {
  rows_.push_back(std::move(header));
}

void Table::AddRow(std::vector<std::string> cells) {
  for (std::string& cell : cells) cell = Printable(cell);
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) {
        line.append(widths[c] - row[c].size() + 2, ' ');
      }
    }
    out << line << '\n';
  }
}

json ErrorJson(const absl::Status& status) {
  json fields = json::array();
  for (const FieldError& error : FieldErrorsOf(status)) {
    fields.push_back(json{{"field", error.field},
                          {"message", RedactTokens(error.message)},
                          {"value", RedactTokens(error.value)}});
  }
  return json{{"error",
               {{"code", absl::StatusCodeToString(status.code())},
                {"message", std::string(Shorten(RedactTokens(
                                std::string_view(status.message().data(),
                                                 status.message().size()))))},
                {"fields", std::move(fields)}}}};
}

int PrintError(const absl::Status& status, bool json_output) {
  if (json_output) {
    std::cerr << DumpJson(ErrorJson(status)) << std::endl;
    return kExitFailure;
  }
  // A status with field errors prints one line per field: the fields say
  // everything its summary message says, and more.
  std::string text;
  for (const FieldError& error : FieldErrorsOf(status)) {
    if (!text.empty()) text += '\n';
    absl::StrAppend(&text, "keygate: ", Printable(Shorten(error.field)),
                    ": ", Printable(Shorten(RedactTokens(error.message))));
    if (!error.value.empty()) {
      absl::StrAppend(&text, " (got \"",
                      Printable(Shorten(RedactTokens(error.value))), "\")");
    }
  }
  if (text.empty()) {
    const absl::string_view message = status.message();
    text = absl::StrCat("keygate: ",
                        Printable(Shorten(RedactTokens(std::string_view(
                            message.data(), message.size())))));
  }
  std::cerr << text << std::endl;
  return kExitFailure;
}

int PrintUsageError(std::string_view raw_message, bool json_output) {
  // CLI11 echoes unexpected arguments, which may include a token.
  const std::string redacted = RedactTokens(raw_message);
  const std::string_view message = Shorten(redacted);
  if (json_output) {
    std::cerr << DumpJson(json{{"error",
                                {{"code", "USAGE"},
                                 {"message", Printable(message)},
                                 {"fields", json::array()}}}})
              << std::endl;
  } else {
    std::cerr << "keygate: " << Printable(message)
              << "\nRun with --help for more information." << std::endl;
  }
  return kExitUsage;
}

}  // namespace keygate::tool
