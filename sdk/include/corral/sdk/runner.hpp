// corral SDK: the ProcessRunner port, implemented by runner plugins.
#pragma once

#include <corral/sdk/error.hpp>
#include <corral/sdk/types.hpp>

#include <chrono>
#include <vector>

namespace corral::sdk {

// Starts and supervises model servers. A runner plugin derives from this class and gives it a
// constructor `Class(corral::sdk::Host host, const boost::json::object& options)` that throws
// Error(ProcessError::Configuration, "<key>: ...") for bad options.
//
// Every method may block and may be called concurrently from several host threads: implementations
// synchronise their own state. Failures are reported by throwing Error with the matching code.
class ProcessRunner {
public:
    virtual ~ProcessRunner() = default;

    // Starts a server and returns once it answers requests (not merely once it was spawned).
    // StartFailed with the reason (and the server's last log lines, where there are any) otherwise.
    virtual ProcessHandle start(const ServerConfig& config) = 0;

    // Asks the server to exit, forces it after `grace`, and returns when it is gone.
    // NotRunning if it was already gone; StopFailed if it could not be stopped.
    virtual void stop(const ProcessHandle& handle, std::chrono::milliseconds grace) = 0;

    // Whether the server process still exists (not whether it is healthy).
    virtual bool is_running(const ProcessHandle& handle) = 0;

    // Asks the server how it is. Never throws for an unhealthy server: that is a state.
    virtual ServerHealth health(const ProcessHandle& handle) = 0;

    // Every server this runner started and that still runs; runners that can adopt also list servers
    // a previous host left running (the host adopts those it does not know).
    virtual std::vector<ProcessHandle> list_running() = 0;

    // Re-attaches to a server that a previous host process started (handle from an instance
    // record). Returns the refreshed handle; NotRunning if it is gone. Runners that cannot do it
    // keep this default and leave CORRAL_CAP_ADOPT unset.
    virtual ProcessHandle adopt(const ProcessHandle& handle) {
        (void)handle;
        throw Error(ProcessError::NotSupported, "this runner cannot adopt servers");
    }

    // The machine(s) its servers run on, with their devices and RAM (ABI 1.1). Runners whose servers
    // run where the host runs keep this default: the host describes its own machine. A remote runner
    // describes the machine it reaches; one whose servers a cluster scheduler places says so
    // (capacity_managed_elsewhere), and its models then take no room in corral's ledger.
    virtual std::vector<MachineInfo> machines() { throw Error(ProcessError::NotSupported, "this runner does not describe machines"); }

    // The disk its servers keep prompt caches on, when it is not corral's (ABI 1.2; a runner with
    // CORRAL_CAP_SLOT_CACHE whose servers run on another machine or a cluster). The host keeps the
    // caches under slot_cache_root() (an absolute directory as the servers see it) and lists and
    // prunes them with the two calls after it. Local runners keep these defaults: the host then uses
    // its own state directory; a remote one (CORRAL_CAP_REMOTE, or describing machines of its own)
    // that keeps them gets no prompt caches.
    virtual std::string slot_cache_root() { throw Error(ProcessError::NotSupported, "this runner keeps no prompt caches of its own"); }
    // Every regular file under `dir` (absolute, under the root), at any depth; empty when it does not
    // exist.
    virtual std::vector<StoredFile> list_files(const std::string& dir) {
        (void)dir;
        throw Error(ProcessError::NotSupported, "this runner keeps no prompt caches of its own");
    }
    // Removes these files and directories (absolute, under the root; a missing one is no error).
    // Configuration, removing nothing, when any is outside the root.
    virtual void remove_files(const std::vector<std::string>& paths) {
        (void)paths;
        throw Error(ProcessError::NotSupported, "this runner keeps no prompt caches of its own");
    }
};

}  // namespace corral::sdk
