// How a server's start ends, decided once by whichever comes first: ready, exited, or timed out;
// and the readiness check the runners share once a server has logged that it listens (or from the
// start, for a server whose log will not say so).
#pragma once

#include "child_process.hpp"
#include "http_health.hpp"

#include <corral/sdk/host.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace corral::plugin_common {

struct StartOutcome {
    enum class Kind { Ready, Exited, TimedOut } kind;
    ExitStatus exit;  // Exited: how, where the runner knows
};

class StartSignal {
public:
    void settle(StartOutcome outcome) {
        std::call_once(once_, [&] {
            ready_ = outcome.kind == StartOutcome::Kind::Ready;
            settled_ = true;
            promise_.set_value(std::move(outcome));
        });
    }
    bool settled() const { return settled_; }
    // Settled Ready: the start is over and nothing reads the lines kept for a failed one, so the
    // runners keep no more (a busy server writes thousands a second).
    bool ready() const { return ready_; }
    std::future<StartOutcome> future() { return promise_.get_future(); }
    bool listening = false;  // the runner's I/O thread only: the ready checks have begun (check_ready)

private:
    std::once_flag once_;
    std::atomic<bool> settled_{false};
    std::atomic<bool> ready_{false};
    std::promise<StartOutcome> promise_;
};

// Lists the listeners on the server's port on the machine it runs on (port_listeners.hpp) and calls
// `done` once, on any thread: with the uid of a listener of another user than the server's, or
// nullopt when there is none (or they cannot be listed: the key proof then decides alone).
using ListenerCheck = std::function<void(const HttpEndpoint& endpoint, std::function<void(std::optional<uid_t>)> done)>;
// For a server on this machine, in this network namespace: its endpoint's port, this process's user.
ListenerCheck local_listener_check();

// What the ready checks must also see when they begin without the server's word that it listens (a
// server whose verbosity hides the line, a Slurm job whose output may not come): until our server
// has bound its port, another process may hold it (ours then fails to bind and exits), and that
// process's 200 on /health would pass for ours, and the first requests would go to it. So the server
// must show that it holds the key it was started with (check_holds_key), and a server on a machine
// whose listeners its runner can list must not be answered for by another user's listener on its
// port (ListenerCheck: checked before the key is sent, so another user's process never sees it; a
// process of the server's own user could read the key anyway). `warn` is told once when another
// process answers in its place.
struct OwnerProof {
    std::string key;               // empty: the server has none to show
    ListenerCheck other_listener;  // empty: its machine's listeners cannot be listed
    std::function<void(const std::string&)> warn;
};

// The proof for a server started with `key` and on a machine `other_listener` can list; none when
// it has neither (a server without a key on a machine out of sight cannot show anything).
inline std::optional<OwnerProof> owner_proof(std::optional<std::string> key, std::function<void(const std::string&)> warn,
                                             ListenerCheck other_listener = {}) {
    if ((!key || key->empty()) && !other_listener) return std::nullopt;
    return OwnerProof{key.value_or(std::string()), std::move(other_listener), std::move(warn)};
}
// The same, warning through a runner's host under the instance's id (what the runners pass).
inline std::optional<OwnerProof> owner_proof(std::optional<std::string> key, sdk::Host host, std::string instance_id,
                                             ListenerCheck other_listener = {}) {
    return owner_proof(
        std::move(key), [host, instance_id = std::move(instance_id)](const std::string& what) { host.warn(instance_id, ": ", what); },
        std::move(other_listener));
}

// Once llama-server listens (check_ready): GET /health until 200 (a server answers 503 while it
// loads), and with `proof` until no other user's process listens on the port (other_listener) and
// the answering server holds its key, with backoff from 5 ms to 500 ms; settles Ready. Ends once the
// start is settled otherwise (the server's exit or the runner's timeout).
boost::asio::awaitable<void> confirm_ready(HttpEndpoint endpoint, std::shared_ptr<StartSignal> signal,
                                           std::optional<OwnerProof> proof = std::nullopt);

// Starts confirm_ready on `io`'s thread, once per start: when the server has logged that it listens
// (its own word: no proof needed), or at once, with `proof`, for a server that will not say so.
void check_ready(boost::asio::io_context& io, HttpEndpoint endpoint, std::shared_ptr<StartSignal> signal,
                 std::optional<OwnerProof> proof = std::nullopt);
// The same for a handle's endpoint ("http://host:port", "unix:///path"); nothing for one that does not parse.
void check_ready(boost::asio::io_context& io, const std::string& endpoint, std::shared_ptr<StartSignal> signal,
                 std::optional<OwnerProof> proof = std::nullopt);

// True when a log line is llama-server announcing its HTTP listener ("listening on http://..." or,
// on a Unix socket, "listening on unix:///...").
inline bool is_listening_line(const std::string& line) {
    return line.find("listening on http") != std::string::npos || line.find("listening on unix://") != std::string::npos;
}

}  // namespace corral::plugin_common
