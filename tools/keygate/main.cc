// tools/keygate/main.cc: entry point of the `keygate` command.
#include "tools/keygate/cli.h"

int main(int argc, char** argv) { return keygate::tool::RunCli(argc, argv); }
