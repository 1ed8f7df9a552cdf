// The extra I/O threads for client connections (`io_threads`), each with its own io_context and
// upstream pool, beside the main thread's (lane 0). See proxy/io_lane.hpp for who does what where.
#pragma once

#include "proxy/io_lane.hpp"
#include "proxy/upstream_pool.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace corral::serve {

// How many I/O threads `configured` (0: automatic) means on a machine with `cores` cores:
// automatic is half the cores, 1 to 8; the model servers (llama.cpp computes on every core it is
// given) need the rest more than the relay does.
uint32_t io_threads_for(uint32_t configured, unsigned cores);

class ConnectionThreads {
public:
    // `count` lanes in all: lane 0 is `main` with `main_pool`, the others get a thread each.
    ConnectionThreads(boost::asio::io_context& main, proxy::UpstreamPool& main_pool, uint32_t count);
    ~ConnectionThreads();
    ConnectionThreads(const ConnectionThreads&) = delete;
    ConnectionThreads& operator=(const ConnectionThreads&) = delete;

    const std::vector<proxy::IoLane>& lanes() const { return lanes_; }
    // Closes the idle connections to a server that went away, in every extra lane's pool (on its thread).
    void drop(const std::string& endpoint);
    // Stops the extra threads and waits for them (their pending work is destroyed with this object).
    void stop();

private:
    struct Extra {
        boost::asio::io_context io{1};
        proxy::UpstreamPool pool;
        boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
        std::thread thread;
    };
    std::vector<std::unique_ptr<Extra>> extra_;
    std::vector<proxy::IoLane> lanes_;
};

}  // namespace corral::serve
