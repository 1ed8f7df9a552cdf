// A start whose port another process took first (between corral choosing it and the server binding
// it) is retried with another port; the runners share the rule and the message llama-server logs.
#pragma once

#include <corral/sdk/error.hpp>
#include <corral/sdk/host.hpp>

#include <stdexcept>

namespace corral::plugin_common {

// Thrown by a runner's single start attempt when the server could not bind its port.
class PortTaken : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// What llama-server logs when its port is taken.
inline constexpr const char* kPortTakenLine = "couldn't bind HTTP server socket";

// Runs `attempt` up to three times while it throws PortTaken (once for a fixed port, which another
// port cannot replace); the last PortTaken becomes sdk::Error(StartFailed).
template <class Attempt>
auto start_with_port_retries(bool fixed_port, const sdk::Host& host, Attempt attempt) -> decltype(attempt()) {
    for (int round = 1;; ++round) {
        try {
            return attempt();
        } catch (const PortTaken& e) {
            if (fixed_port || round == 3) throw sdk::Error(sdk::ProcessError::StartFailed, e.what());
            host.warn(e.what(), "; retrying with another port");
        }
    }
}

}  // namespace corral::plugin_common
