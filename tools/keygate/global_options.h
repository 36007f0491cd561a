// tools/keygate/global_options.h: flags shared by every `keygate` subcommand.
#ifndef KEYGATE_TOOLS_KEYGATE_GLOBAL_OPTIONS_H_
#define KEYGATE_TOOLS_KEYGATE_GLOBAL_OPTIONS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "keygate/store.h"

namespace keygate::tool {

// GlobalOptions are the flags before the subcommand.
struct GlobalOptions {
  // --data-dir: the store directory. Default: $KEYGATE_DATA_DIR or
  // ./keygate-data.
  std::string data_dir;
  // --pepper-file: the pepper keyring file, kept apart from the store.
  // Default: $KEYGATE_PEPPER_FILE or <data-dir>.pepper.
  std::string pepper_file;
  // --scope-module (repeatable): extra scope modules beyond
  // service_accounts and tokens.
  std::vector<std::string> scope_modules;
  // --json: machine-readable output.
  bool json = false;
  // --allow-core-dumps: leave core dumps as the environment set them, for
  // debugging a crash. Without it the command disables them
  // (DisableCoreDumps in process_hardening.h) before reading any secret, as
  // a core file would hold the secrets in memory. Default: false.
  bool allow_core_dumps = false;
  // --postgres: a libpq connection string; the store is then the
  // PostgreSQL database it names (Options::postgres_connection) and
  // data_dir is not used. It may hold a password: never printed. Default:
  // $KEYGATE_POSTGRES, or empty (the RocksDB store at data_dir).
  std::string postgres;
  // --record-events: Options::record_events for the store this command
  // (or `serve`) opens. Default: false.
  bool record_events = false;
};

// ResolveDefaults fills empty data_dir / pepper_file from the environment and
// the defaults above.
void ResolveDefaults(GlobalOptions& options);

// StoreLabel names the store in messages: data_dir, or "the PostgreSQL
// store" (never the connection string, which may hold a password).
std::string StoreLabel(const GlobalOptions& options);

// OpenStore loads the pepper file and opens the store with `options`
// (ResolveDefaults already applied). `adjust`, if set, may change the store
// Options (e.g. a quota) just before the store opens.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(
    const GlobalOptions& options,
    const std::function<void(Options&)>& adjust = nullptr);

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_GLOBAL_OPTIONS_H_
