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
};

}  // namespace corral::sdk
