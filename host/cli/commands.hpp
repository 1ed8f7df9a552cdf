// The `corral` subcommands. Each one lives in its own cmd_*.cpp and is listed by all_commands().
#pragma once

#include "cli/args.hpp"

#include <functional>
#include <vector>

namespace corral::cli {

struct Command {
    CommandSpec spec;
    std::function<int(const ParsedArgs&)> run;
};

Command version_command();
Command plugins_command();
Command plugins_inspect_command();
Command config_check_command();
Command probe_command();
Command fit_command();
Command run_command();
Command serve_command();
Command ps_command();
Command load_command();
Command unload_command();
Command logs_command();
Command pull_command();

// Every subcommand, in the order `corral --help` lists them.
const std::vector<Command>& all_commands();

}  // namespace corral::cli
