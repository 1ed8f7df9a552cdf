// Runs a program to completion and captures its exit status and output (for CLI tests).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace corral::test {

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    std::string out;
    std::string err;
};

// argv[0] is the program path. `env` entries are added to the current environment.
ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

}  // namespace corral::test
