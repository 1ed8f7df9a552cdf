// Where a client connection is served. With `io_threads` above 1 the listener spreads connections
// over several threads, each running its own io_context with its own pool of upstream connections
// (a pooled connection never crosses threads). The main lane is the thread that owns the
// scheduler, the supervisor, the metrics and everything else that has state: a request on another
// lane runs its route there (one hop) and relays the bytes on its own lane (forward), so nothing
// with state is ever touched by two threads and no lock guards it.
#pragma once

#include "proxy/upstream_pool.hpp"

#include <boost/asio/io_context.hpp>

namespace corral::proxy {

struct IoLane {
    boost::asio::io_context::executor_type executor;
    UpstreamPool* pool = nullptr;
    bool main = true;
    // Whether the caller runs elsewhere than on this lane's thread (a route on the main thread
    // answering a connection of another lane): then what waits on the client's stream (its
    // deadline timer lives there) is done on the lane.
    bool elsewhere() const { return !main && !executor.running_in_this_thread(); }
};

}  // namespace corral::proxy
