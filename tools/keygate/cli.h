// tools/keygate/cli.h: the `keygate` command line.
#ifndef KEYGATE_TOOLS_KEYGATE_CLI_H_
#define KEYGATE_TOOLS_KEYGATE_CLI_H_

namespace keygate::tool {

// RunCli parses `argv` and runs the chosen `keygate` subcommand, writing
// results to stdout and errors to stderr. Returns the process exit code: 0
// on success, 1 if the operation failed or was refused (an invalid token
// included), 2 if the command line could not be parsed; --help exits 0.
// Never throws.
int RunCli(int argc, char** argv);

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_CLI_H_
