// An io_context run by one thread of its own, for the blocking ProcessRunner methods to hand
// asynchronous work to. The thread stops and is joined when the object is destroyed.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>

namespace corral::plugin_common {

class IoThread {
public:
    IoThread() : work_(boost::asio::make_work_guard(context_)), thread_([this] { context_.run(); }) {}
    ~IoThread() {
        work_.reset();
        thread_.join();
    }
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

    boost::asio::io_context& context() noexcept { return context_; }

private:
    boost::asio::io_context context_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;  // last: starts after what it runs exists
};

}  // namespace corral::plugin_common
