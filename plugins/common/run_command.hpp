// Short commands a runner runs to completion (an engine's `inspect`, an ssh control command): the
// ChildProcess machinery, waited for with a time limit.
#pragma once

#include "child_process.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace corral::plugin_common {

struct CommandOutput {
    std::optional<int> code;  // empty when a signal ended it (or the time limit did)
    std::vector<std::string> out;
    std::vector<std::string> err;
    bool ok() const { return code == 0; }
    std::string stdout_text() const;  // stdout lines joined with '\n'
    std::string error_text() const;   // stderr (else stdout, else the status) joined, for messages
    std::string all_text() const;     // stdout's lines, then stderr's, each ending in '\n' (a --help may use either)
};

// Runs `binary args...` with `env` (the complete environment) on `io` (run by another thread) and
// waits for it; after `timeout` it is stopped and err says so. Not from the I/O thread. Throws
// sdk::Error(StartFailed) if it cannot be spawned. With `input`, the command reads it on stdin
// (then EOF): the way to hand it secrets, which a command line would show to every local user.
CommandOutput run_command(boost::asio::io_context& io, const std::filesystem::path& binary, const std::vector<std::string>& args,
                          const std::vector<std::string>& env, std::chrono::milliseconds timeout,
                          const std::optional<std::string>& input = std::nullopt);

// The non-empty lines joined with '\n' (for messages built from a command's output).
std::string join_nonempty_lines(const std::vector<std::string>& lines);

// This process's environment as "KEY=VALUE" strings, with `extra` added or replaced.
std::vector<std::string> environment_with(const std::vector<std::pair<std::string, std::string>>& extra = {});

// The executable a name (looked up in PATH) or path refers to, canonical; nullopt when there is none.
std::optional<std::filesystem::path> find_executable(const std::string& name_or_path);

}  // namespace corral::plugin_common
