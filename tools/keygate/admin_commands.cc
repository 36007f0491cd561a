// tools/keygate/admin_commands.cc: `keygate init`, `keygate pepper rotate`
// and `keygate purge`: the store and its pepper keyring.
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "keygate/keyring.h"
#include "keygate/store.h"
#include "nlohmann/json.hpp"
#include "tools/keygate/commands.h"
#include "tools/keygate/output.h"

namespace keygate::tool {
namespace {

using nlohmann::json;

int RunInit(const CommandContext& context) {
  const GlobalOptions& globals = context.globals;
  bool created = false;
  const absl::Status pepper = Keyring::CreateFile(globals.pepper_file);
  if (pepper.ok()) {
    created = true;
  } else if (!absl::IsAlreadyExists(pepper)) {
    return PrintError(
        absl::Status(pepper.code(),
                     absl::StrCat("cannot create pepper file ",
                                  globals.pepper_file, ": ",
                                  std::string(pepper.message()))),
        globals.json);
  }
  int active_pepper_id = 0;
  const int exit_code = WithStore(context, [&](Store&) {
    absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
        Keyring::Load(globals.pepper_file);
    if (keyring.ok()) active_pepper_id = (*keyring)->active_id();
    return kExitOk;
  });
  if (exit_code != kExitOk) return exit_code;

  if (globals.json) {
    json out{{"backend", globals.postgres.empty() ? "rocksdb" : "postgres"},
             {"pepperFile", globals.pepper_file},
             {"pepperCreated", created},
             {"activePepperId", active_pepper_id}};
    // The connection string may carry a password: never printed.
    if (globals.postgres.empty()) out["dataDir"] = globals.data_dir;
    std::cout << DumpJson(out) << std::endl;
    return kExitOk;
  }
  if (created) {
    std::cout << "Created pepper file " << Printable(globals.pepper_file)
              << " (mode 0600). Keep it secret and apart from the store; "
                 "without it no token can be verified.\n";
  } else {
    std::cout << "Pepper file " << Printable(globals.pepper_file)
              << " already exists; reusing it.\n";
  }
  if (globals.postgres.empty()) {
    std::cout << "Store ready at " << Printable(globals.data_dir) << '\n';
  } else {
    std::cout << "Store ready in PostgreSQL (schema created or current)\n";
  }
  return kExitOk;
}

int RunPepperRotate(const CommandContext& context) {
  const GlobalOptions& globals = context.globals;
  absl::StatusOr<int> id = Keyring::RotateFile(globals.pepper_file);
  if (!id.ok()) {
    const std::string hint = absl::IsNotFound(id.status())
                                 ? "; run `keygate init` first"
                                 : "";
    return PrintError(
        absl::Status(id.status().code(),
                     absl::StrCat("cannot rotate pepper file ",
                                  globals.pepper_file, ": ",
                                  std::string(id.status().message()), hint)),
        globals.json);
  }
  if (globals.json) {
    std::cout << DumpJson(json{{"pepperFile", globals.pepper_file},
                               {"activePepperId", *id}})
              << std::endl;
    return kExitOk;
  }
  std::cout << "New pepper id " << *id << " added to "
            << Printable(globals.pepper_file)
            << ". New tokens use it; older tokens keep verifying. Restart "
               "any process that holds the store to pick it up.\n";
  return kExitOk;
}

int RunPurge(const CommandContext& context) {
  return WithStore(context, [&](Store& store) {
    absl::StatusOr<PurgeResult> result = store.PurgeRetired();
    if (!result.ok()) return PrintError(result.status(), context.globals.json);
    if (context.globals.json) {
      std::cout << DumpJson(json{{"tokensPurged", result->tokens_purged}})
                << std::endl;
    } else {
      std::cout << "Purged " << result->tokens_purged
                << " retired token(s).\n";
    }
    return kExitOk;
  });
}

}  // namespace

void AddAdminCommands(CLI::App& app, CommandContext& context) {
  CLI::App* init = app.add_subcommand(
      "init",
      "Create the pepper file (mode 0600) if it is missing, and create or "
      "open the store");
  init->callback([&context] { context.exit_code = RunInit(context); });

  CLI::App* pepper =
      app.add_subcommand("pepper", "Manage the pepper keyring file");
  pepper->require_subcommand(1);
  CLI::App* rotate = pepper->add_subcommand(
      "rotate",
      "Append a fresh pepper; new tokens use it and older tokens keep "
      "verifying");
  rotate->callback(
      [&context] { context.exit_code = RunPepperRotate(context); });

  CLI::App* purge = app.add_subcommand(
      "purge",
      "Delete tokens revoked or expired longer ago than the retention window "
      "(30 days); active tokens are never purged");
  purge->callback([&context] { context.exit_code = RunPurge(context); });
}

}  // namespace keygate::tool
