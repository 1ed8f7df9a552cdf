#include "start_signal.hpp"

#include "port_listeners.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

namespace corral::plugin_common {

namespace asio = boost::asio;

ListenerCheck local_listener_check() {
    return [](const HttpEndpoint& endpoint, std::function<void(std::optional<uid_t>)> done) {
        done(foreign_listener(endpoint.host, endpoint.port, ::geteuid()));
    };
}

namespace {

// The proof's listener check, awaited: its answer comes back on this coroutine's executor, from
// whichever thread gave it.
asio::awaitable<std::optional<uid_t>> other_listener(const OwnerProof& proof, const HttpEndpoint& endpoint) {
    auto executor = co_await asio::this_coro::executor;
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::optional<uid_t>)>(
        [&](auto handler) {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            proof.other_listener(endpoint, [executor, shared](std::optional<uid_t> uid) {
                asio::post(executor, [shared, uid] { std::move (*shared)(uid); });
            });
        },
        asio::use_awaitable);
}

}  // namespace

asio::awaitable<void> confirm_ready(HttpEndpoint endpoint, std::shared_ptr<StartSignal> signal, std::optional<OwnerProof> proof) {
    asio::steady_timer backoff(co_await asio::this_coro::executor);
    auto delay = std::chrono::milliseconds(5);
    bool warned = false;
    while (!signal->settled()) {
        auto health = co_await check_health(endpoint, std::chrono::seconds(5));
        if (health.state == sdk::HealthState::Ok) {
            // Why the answer is not our server's, if it is not ("": it is).
            std::string other;
            // A Unix socket needs no listener check: its path, in the runner's own directory, is
            // out of other users' reach.
            if (proof && proof->other_listener && !endpoint.is_unix()) {
                if (auto uid = co_await other_listener(*proof, endpoint))
                    other = "another user's process (uid " + std::to_string(*uid) + ") listens there";
            }
            if (other.empty() && proof && !proof->key.empty()) {
                auto owner = co_await check_holds_key(endpoint, proof->key, std::chrono::seconds(5));
                if (!owner.holds) other = owner.seen;
            }
            if (other.empty()) {
                signal->settle({StartOutcome::Kind::Ready, {}});
                co_return;
            }
            if (!warned && proof->warn && !signal->settled()) {
                warned = true;
                proof->warn("the server answering on " + format_http_endpoint(endpoint) + " is not the one started there (" + other +
                            "): another process holds the " + (endpoint.is_unix() ? "socket" : "port") +
                            "; waiting for the server's own answer or its exit");
            }
        }
        backoff.expires_after(delay);
        co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        delay = std::min(delay * 2, std::chrono::milliseconds(500));
    }
}

void check_ready(asio::io_context& io, HttpEndpoint endpoint, std::shared_ptr<StartSignal> signal, std::optional<OwnerProof> proof) {
    asio::post(io, [&io, endpoint = std::move(endpoint), signal = std::move(signal), proof = std::move(proof)]() mutable {
        if (signal->listening) return;
        signal->listening = true;
        asio::co_spawn(io, confirm_ready(std::move(endpoint), std::move(signal), std::move(proof)), asio::detached);
    });
}

void check_ready(asio::io_context& io, const std::string& endpoint, std::shared_ptr<StartSignal> signal, std::optional<OwnerProof> proof) {
    if (auto parsed = parse_http_endpoint(endpoint)) check_ready(io, std::move(*parsed), std::move(signal), std::move(proof));
}

}  // namespace corral::plugin_common
