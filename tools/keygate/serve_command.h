// tools/keygate/serve_command.h: the `keygate serve` subcommand.
#ifndef KEYGATE_TOOLS_KEYGATE_SERVE_COMMAND_H_
#define KEYGATE_TOOLS_KEYGATE_SERVE_COMMAND_H_

#include "CLI/CLI.hpp"
#include "tools/keygate/global_options.h"

namespace keygate::tool {

// AddServeCommand registers `serve` and its flags on `app`. When the
// subcommand runs it serves HTTP until SIGTERM/SIGINT and stores the
// process exit code in `exit_code`. `globals` must outlive `app`.
void AddServeCommand(CLI::App& app, const GlobalOptions& globals,
                     int& exit_code);

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_SERVE_COMMAND_H_
