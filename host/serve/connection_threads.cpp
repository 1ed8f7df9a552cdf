#include "serve/connection_threads.hpp"

#include "logging/logging.hpp"

#include <boost/asio/post.hpp>

#include <pthread.h>

#include <algorithm>

namespace corral::serve {

uint32_t io_threads_for(uint32_t configured, unsigned cores) {
    if (configured > 0) return configured;
    return std::clamp<uint32_t>(cores / 2, 1, 8);
}

ConnectionThreads::ConnectionThreads(IoContext& main, proxy::UpstreamPool& main_pool, uint32_t count) : main_(main) {
    lanes_.push_back({main.get_executor(), &main_pool, true});
    for (uint32_t i = 1; i < count; ++i) {
        auto& extra = *extra_.emplace_back(std::make_unique<Extra>());
        lanes_.push_back({extra.io.get_executor(), &extra.pool, false});
    }
    for (auto& extra : extra_) {
        extra->thread = std::thread([io = &extra->io, n = &extra - extra_.data() + 1] {
            const std::string name = "corral-io-" + std::to_string(n);
            ::pthread_setname_np(::pthread_self(), name.c_str());
            for (;;) {
                try {
                    io->run();
                    return;
                } catch (const std::exception& e) {
                    // Handlers do not throw (sessions catch); should one, the lane goes on.
                    logging::get("http")->error("I/O thread: {}", e.what());
                }
            }
        });
    }
}

ConnectionThreads::~ConnectionThreads() {
    stop();
}

void ConnectionThreads::drop(const std::string& endpoint) {
    for (auto& extra : extra_) {
        boost::asio::post(extra->io, [pool = &extra->pool, endpoint] { pool->drop(endpoint); });
    }
}

void ConnectionThreads::stop() {
    for (auto& extra : extra_) {
        extra->work.reset();
        extra->io.stop();
    }
    for (auto& extra : extra_) {
        if (extra->thread.joinable()) extra->thread.join();
    }
}

void ConnectionThreads::destroy_pending() {
    stop();
    // Destroying an unfinished coroutine posts the unwinding of its frames to its own context, and
    // a frame may own another lane's coroutine (the completion of a co_spawn it waits for), which is
    // posted there in turn: each round takes one hop. A relayed request nests three coroutines
    // across lanes (session, route, forward), so the fourth round finds nothing left.
    for (int round = 0; round < 4; ++round) {
        main_.destroy_pending();
        for (auto& extra : extra_) extra->io.destroy_pending();
    }
}

}  // namespace corral::serve
