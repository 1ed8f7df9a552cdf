// A one-shot wake-up for a coroutine on a single-threaded io_context: the waiter co_awaits wait()
// until notify() or its deadline. Every use is on the io_context's one thread, so no lock is needed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace corral::serve {

class AsyncSignal {
public:
    explicit AsyncSignal(const boost::asio::any_io_executor& ex) : timer_(ex, boost::asio::steady_timer::time_point::max()) {}

    // True when notified, false when the deadline passed first.
    boost::asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) {
        if (notified_) co_return true;
        timer_.expires_at(deadline);
        boost::system::error_code ec;
        co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        co_return notified_;
    }

    void notify() {
        notified_ = true;
        timer_.cancel();
    }

    // Ready for another wait() (for waiters that wake repeatedly, such as stream followers).
    void rearm() { notified_ = false; }

    bool notified() const noexcept { return notified_; }

private:
    boost::asio::steady_timer timer_;
    bool notified_ = false;
};

}  // namespace corral::serve
