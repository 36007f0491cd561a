// tools/keygate/commands.h: the subcommands of `keygate` and what they share.
#ifndef KEYGATE_TOOLS_KEYGATE_COMMANDS_H_
#define KEYGATE_TOOLS_KEYGATE_COMMANDS_H_

#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/store.h"
#include "tools/keygate/global_options.h"

namespace keygate::tool {

// CommandContext is the state one `keygate` run shares between its global
// flags and the subcommand that runs. It must outlive the CLI::App.
struct CommandContext {
  // The global flags; ResolveDefaults has been applied by the time any
  // subcommand callback runs.
  GlobalOptions globals;
  // The process exit code the subcommand chose.
  int exit_code = 0;
};

// AddAdminCommands registers `init`, `pepper rotate` and `purge`.
void AddAdminCommands(CLI::App& app, CommandContext& context);

// AddServiceAccountCommands registers `sa create|list|get|rename|disable|
// enable|delete`.
void AddServiceAccountCommands(CLI::App& app, CommandContext& context);

// AddTokenCommands registers `token create|list|revoke|verify`.
void AddTokenCommands(CLI::App& app, CommandContext& context);

// DefaultActor is who management commands act as unless --actor is given:
// $USER, or "cli" when it is unset or empty.
std::string DefaultActor();

// AddOrgOption adds the required `--org ORG` option bound to `org`.
CLI::Option* AddOrgOption(CLI::App& command, std::string& org);

// AddActorOption adds `--actor A` bound to `actor`, defaulting to
// DefaultActor().
CLI::Option* AddActorOption(CLI::App& command, std::string& actor);

// AddPageOptions adds `--limit N` (1-1000, default 100) and `--cursor C`.
void AddPageOptions(CLI::App& command, size_t& limit, std::string& cursor);

// ParseDurationArg parses a positive duration of at most 100 years:
// absl::ParseDuration syntax ("720h", "90m", "1h30m") or a whole number of
// days ("30d"). InvalidArgument with a short reason otherwise.
absl::StatusOr<absl::Duration> ParseDurationArg(std::string_view text);

// DurationValidator is a CLI11 check that accepts what ParseDurationArg
// accepts, so a bad duration is a usage error.
CLI::Validator DurationValidator();

// AddWebhookCommands registers `webhook list|create|rotate-secret|delete`.
void AddWebhookCommands(CLI::App& app, CommandContext& context);

// AddEventsCommands registers `events tail`.
void AddEventsCommands(CLI::App& app, CommandContext& context);

// AddJwtCommands registers `jwt mint`.
void AddJwtCommands(CLI::App& app, CommandContext& context);

// WithStore opens the store named by context.globals, runs `body` on it,
// closes it, and returns body's exit code (or kExitFailure after printing
// the error if opening or closing fails).
int WithStore(const CommandContext& context,
              absl::FunctionRef<int(Store& store)> body);

// WithReadOnlyStore is WithStore for the commands that only read (`token
// verify`, `token list`, `sa list`, `sa get`): if another process holds the
// store (`keygate serve`, say), it opens the store as a read-only follower
// of that process instead (Options::role kFollower, current as of the
// open) and says so on stderr.
int WithReadOnlyStore(const CommandContext& context,
                      absl::FunctionRef<int(Store& store)> body);

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_COMMANDS_H_
