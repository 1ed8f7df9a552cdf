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

// An io_context whose pending work can be destroyed while it still exists (Asio keeps
// execution_context::shutdown protected: ~io_context runs it only as the object goes).
class IoContext : public boost::asio::io_context {
public:
    using boost::asio::io_context::io_context;
    // Destroys every handler that is queued or waits (on a socket, a timer) without running it; the
    // context cannot run again. What their destruction posts is destroyed by the next call.
    void destroy_pending() { shutdown(); }
};

class ConnectionThreads {
public:
    // `count` lanes in all: lane 0 is `main` with `main_pool`, the others get a thread each.
    ConnectionThreads(IoContext& main, proxy::UpstreamPool& main_pool, uint32_t count);
    ~ConnectionThreads();
    ConnectionThreads(const ConnectionThreads&) = delete;
    ConnectionThreads& operator=(const ConnectionThreads&) = delete;

    const std::vector<proxy::IoLane>& lanes() const { return lanes_; }
    // Closes the idle connections to a server that went away, in every extra lane's pool (on its thread).
    void drop(const std::string& endpoint);
    // Stops the extra threads and waits for them (their pending work is destroyed with this object).
    void stop();
    // Once the main thread has stopped too: stops the extra threads and destroys the pending work of
    // every lane, the main one's included, while all their contexts still exist. A lane's pending
    // coroutines hold another's work and sockets (a session on an extra lane waits for its route on
    // the main one, whose relay waits for forward() back on the extra lane), so destroying the
    // contexts one after the other, in either order, would free what the other still holds.
    void destroy_pending();

private:
    struct Extra {
        IoContext io{1};
        proxy::UpstreamPool pool;
        boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
        std::thread thread;
    };
    IoContext& main_;
    std::vector<std::unique_ptr<Extra>> extra_;
    std::vector<proxy::IoLane> lanes_;
};

}  // namespace corral::serve
