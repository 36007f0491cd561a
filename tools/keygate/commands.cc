// tools/keygate/commands.cc: helpers every `keygate` subcommand shares.
#include "tools/keygate/commands.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
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
