// Runs a program to completion and captures its exit status and output (for CLI tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::test {

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    std::string out;
    std::string err;
};

// For commands that load Mesa's Vulkan driver (the vulkan probe on llvmpipe): llvmpipe leaks one
// allocation when the Vulkan loader unloads it, which LeakSanitizer reports (without a module name to
// suppress it by) in the sanitizer build. Memory errors are still caught.
inline const std::map<std::string, std::string> kVulkanDriverLeaksAllowed = {{"LSAN_OPTIONS", "detect_leaks=0"}};

// argv[0] is the program path. `env` entries are added to the current environment.
ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

// A NUL-separated /proc file of a process ("cmdline", "environ"), one entry per element.
std::vector<std::string> proc_list(int64_t pid, const char* file);
// A variable of the process's environment; nullopt when it has none of that name.
std::optional<std::string> environ_of(int64_t pid, const std::string& name);
// The argument after `flag` on the process's command line; nullopt when the flag is not there.
std::optional<std::string> argument_after(int64_t pid, const std::string& flag);

// A process left running: its stdout is a pipe the test reads line by line.
class SpawnedProcess {
public:
    explicit SpawnedProcess(const std::vector<std::string>& argv);
    // With stdout and stderr appended to `output_file` instead (read_line() then returns "").
    SpawnedProcess(const std::vector<std::string>& argv, const std::string& output_file);
    ~SpawnedProcess();  // SIGKILLs and reaps it if still running
    SpawnedProcess(const SpawnedProcess&) = delete;
    SpawnedProcess& operator=(const SpawnedProcess&) = delete;

    int pid() const { return pid_; }
    // The next line of stdout (without '\n'); empty at end of file.
    std::string read_line();
    // Sends `sig` and reaps it; returns the wait status.
    int kill_and_wait(int sig);
    // Sends `sig`, waits up to `grace` for the exit (a pidfd, no polling), then SIGKILLs; reaps it.
    int stop(int sig, std::chrono::milliseconds grace);

private:
    int pid_ = -1;
    int out_fd_ = -1;
    std::string buffer_;
};

}  // namespace corral::test
