// tools/keygate/commands.cc: helpers every `keygate` subcommand shares.
#include "tools/keygate/commands.h"

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "keygate/errors.h"
#include "keygate/options.h"
#include "keygate/page.h"
#include "tools/keygate/output.h"

namespace keygate::tool {

std::string DefaultActor() {
  const char* user = std::getenv("USER");
  if (user == nullptr || *user == '\0') return "cli";
  return user;
}

CLI::Option* AddOrgOption(CLI::App& command, std::string& org) {
  return command
      .add_option("--org", org,
                  "Organization id (opaque, 1-256 bytes of UTF-8); only its "
                  "resources are visible")
      ->type_name("ORG")
      ->required();
}

CLI::Option* AddActorOption(CLI::App& command, std::string& actor) {
  actor = DefaultActor();
  return command
      .add_option("--actor", actor,
                  "Who is acting, recorded in the audit fields (default: "
                  "$USER or \"cli\")")
      ->type_name("ACTOR");
}

void AddPageOptions(CLI::App& command, size_t& limit, std::string& cursor) {
  limit = 100;
  command
      .add_option("--limit", limit, "Maximum number of items (1-1000, "
                                    "default 100)")
      ->type_name("N")
      ->check(CLI::Range(size_t{1}, PageRequest::kMaxLimit));
  command
      .add_option("--cursor", cursor,
                  "Continue a listing from the cursor a previous page "
                  "printed")
      ->type_name("CURSOR");
}

absl::StatusOr<absl::Duration> ParseDurationArg(std::string_view text) {
  constexpr int64_t kMaxDays = 365 * 100;
  const absl::string_view view(text.data(), text.size());
  absl::Duration duration;
  int64_t days = 0;
  if (view.size() > 1 && view.back() == 'd' &&
      absl::ascii_isdigit(static_cast<unsigned char>(view.front())) &&
      absl::SimpleAtoi(view.substr(0, view.size() - 1), &days)) {
    if (days > kMaxDays) {
      return absl::InvalidArgumentError("too long: at most 36500d");
    }
    duration = absl::Hours(24) * days;
  } else if (!absl::ParseDuration(view, &duration)) {
    return absl::InvalidArgumentError(
        "not a duration: use e.g. 30d, 720h, 90m or 1h30m");
  }
  if (duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("must be positive");
  }
  if (duration > absl::Hours(24) * kMaxDays) {
    return absl::InvalidArgumentError("too long: at most 36500d");
  }
  return duration;
}

CLI::Validator DurationValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        absl::StatusOr<absl::Duration> parsed = ParseDurationArg(text);
        if (parsed.ok()) return "";
        const absl::string_view message = parsed.status().message();
        return std::string(message.data(), message.size());
      },
      /*validator_desc=*/"");
}

int WithStore(const CommandContext& context,
              absl::FunctionRef<int(Store& store)> body) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(context.globals);
  if (!store.ok()) return PrintError(store.status(), context.globals.json);
  const int exit_code = body(**store);
  const absl::Status closed = (*store)->Close();
  if (!closed.ok()) {
    PrintError(closed, context.globals.json);
    return kExitFailure;
  }
  return exit_code;
}

}  // namespace keygate::tool

namespace keygate::tool {

int WithReadOnlyStore(const CommandContext& context,
                      absl::FunctionRef<int(Store& store)> body) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(context.globals);
  if (!store.ok() && IsStoreInUse(store.status())) {
    store = OpenStore(context.globals, [](Options& options) {
      options.role = StoreRole::kFollower;
      // One command, one view: loaded at open, no catch-up thread.
      options.follower_catch_up_interval = absl::ZeroDuration();
    });
    if (store.ok()) {
      std::cerr << "keygate: the store is in use by another process; "
                   "reading it as a follower (read-only)\n";
    }
  }
  if (!store.ok()) return PrintError(store.status(), context.globals.json);
  const int exit_code = body(**store);
  const absl::Status closed = (*store)->Close();
  if (!closed.ok()) {
    PrintError(closed, context.globals.json);
    return kExitFailure;
  }
  return exit_code;
}

}  // namespace keygate::tool
