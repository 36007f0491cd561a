// tools/keygate/cli.cc: the `keygate` command line: global flags, help,
// exit codes, and the top-level error handling.
#include "tools/keygate/cli.h"

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tools/keygate/commands.h"
#include "tools/keygate/global_options.h"
#include "tools/keygate/output.h"
#include "tools/keygate/process_hardening.h"
#include "tools/keygate/serve_command.h"

namespace keygate::tool {
namespace {

constexpr char kDescription[] =
    "keygate manages service-account API tokens in an embedded store and "
    "verifies them.\n"
    "The organization of every management command is given with --org; "
    "another organization's accounts and tokens behave as absent.";

constexpr char kFooter[] =
    "Global flags may go before or after the subcommand, e.g. "
    "`keygate --json sa list --org acme`.\n"
    "Environment: KEYGATE_DATA_DIR (default ./keygate-data), "
    "KEYGATE_PEPPER_FILE (default <data-dir>.pepper), KEYGATE_POSTGRES "
    "(default none: the store is --data-dir), USER (default "
    "--actor).\n"
    "Exit codes: 0 success; 1 the operation failed or was refused (invalid "
    "token, not found, conflict, invalid value, store in use); 2 usage error "
    "(unknown command or flag, missing or malformed argument).\n"
    "While another process holds the store (e.g. `keygate serve`), the "
    "read-only commands (token verify, token list, sa list, sa get) read it "
    "as a follower (a note on stderr says so); the others fail with \"in "
    "use\".";

// HardeningRefused carries a failed DisableCoreDumps out of CLI11's
// callback, so no subcommand runs; caught in Run.
struct HardeningRefused {
  absl::Status status;
};

// JsonRequested reports whether --json appears on the command line, for
// errors raised before CLI11 has stored the flag.
bool JsonRequested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--json") return true;
  }
  return false;
}

// TokenOperands returns the token operands of a parsed `token verify`
// (the only command that takes a token on its command line).
std::vector<std::string> TokenOperands(CLI::App& app) {
  CLI::App* verify = app.get_subcommand("token")->get_subcommand("verify");
  if (!verify->parsed()) return {};
  return verify->get_option("TOKEN")->results();
}

int Run(int argc, char** argv) {
  CommandContext context;
  CLI::App app(kDescription, "keygate");
  app.footer(kFooter);
  app.require_subcommand(1);
  // Global flags are also accepted after the subcommand
  // (`keygate sa list --org acme --json`).
  app.fallthrough();

  app.add_option("--data-dir", context.globals.data_dir,
                 "Store directory (default: $KEYGATE_DATA_DIR or "
                 "./keygate-data)")
      ->type_name("DIR");
  app.add_option("--postgres", context.globals.postgres,
                 "libpq connection string of a PostgreSQL database holding "
                 "the store instead of --data-dir, shared by a fleet of "
                 "processes (default: $KEYGATE_POSTGRES; never printed)")
      ->type_name("CONNINFO");
  app.add_option("--pepper-file", context.globals.pepper_file,
                 "Pepper keyring file, kept apart from the store (default: "
                 "$KEYGATE_PEPPER_FILE or <data-dir>.pepper)")
      ->type_name("FILE");
  app.add_option("--scope-module", context.globals.scope_modules,
                 "Extra scope module a token scope may name, besides "
                 "service_accounts and tokens (repeatable)")
      ->type_name("MODULE")
      ->delimiter(',');
  app.add_flag("--json", context.globals.json,
               "Machine-readable JSON output on stdout, errors as a JSON "
               "object on stderr");
  app.add_flag("--record-events", context.globals.record_events,
               "Record lifecycle events in the store's event outbox "
               "(Options::record_events; read them with `events tail`)");
  app.add_flag("--allow-core-dumps", context.globals.allow_core_dumps,
               "Keep core dumps enabled, for debugging a crash (a core file "
               "holds the secrets in memory; by default they are disabled)");
  // Runs after the global flags are stored and before any subcommand's
  // callback, so every subcommand (serve included) sees resolved defaults.
  //
  // Core dumps are disabled here, in this order on purpose: only after the
  // whole command line is parsed is --allow-core-dumps known (and the hard
  // RLIMIT_CORE cannot be raised back, so "disable first, re-enable on the
  // flag" is not possible); and before any subcommand callback, which is
  // where every secret is first read (pepper file, JWT secret, a token on
  // stdin, the store). Parsing reads nothing but argv, which is in memory
  // from exec on anyway. If disabling fails the command refuses to run.
  //
  // The --postgres value (a connection string, possibly with a password)
  // is blanked in argv here, as soon as CLI11 holds its own copy, so that
  // /proc/<pid>/cmdline of a long-running `keygate serve` does not show it
  // to every local user. So is a token given to `token verify` as an
  // operand instead of on stdin.
  app.parse_complete_callback([&app, &context, argc, argv] {
    HideArgumentValues(argc, argv, {"--postgres"});
    HideArguments(argc, argv, TokenOperands(app));
    ResolveDefaults(context.globals);
    if (!context.globals.allow_core_dumps) {
      if (absl::Status s = DisableCoreDumps(); !s.ok()) {
        throw HardeningRefused{absl::FailedPreconditionError(absl::StrCat(
            s.message(),
            " (pass --allow-core-dumps to run without this protection)"))};
      }
    }
  });

  AddAdminCommands(app, context);
  AddServiceAccountCommands(app, context);
  AddTokenCommands(app, context);
  AddWebhookCommands(app, context);
  AddEventsCommands(app, context);
  AddJwtCommands(app, context);
  AddServeCommand(app, context.globals, context.exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return PrintUsageError(e.what(), JsonRequested(argc, argv));
  } catch (const HardeningRefused& e) {
    return PrintError(e.status, JsonRequested(argc, argv));
  }
  return context.exit_code;
}

}  // namespace

int RunCli(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    return PrintError(
        absl::InternalError(std::string("internal error: ") + e.what()),
        JsonRequested(argc, argv));
  } catch (...) {
    return PrintError(absl::InternalError("internal error"),
                      JsonRequested(argc, argv));
  }
}

}  // namespace keygate::tool
