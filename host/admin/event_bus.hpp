// Status events (starting, ready, unhealthy, restarting, stopping, stopped, failed, draining, ...)
// fanned out to /corral/events subscribers, with a short history for late subscribers.
// Used on the serve io_context's thread only.
#pragma once

#include "serve/async_signal.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <deque>
#include <list>
#include <memory>

namespace corral::admin {

class EventBus {
public:
    static constexpr std::size_t kHistory = 512;
    static constexpr std::size_t kSubscriberBacklog = 4096;  // a subscriber that falls this far behind is dropped

    struct Subscriber {
        explicit Subscriber(const boost::asio::any_io_executor& ex) : signal(ex) {}
        std::deque<boost::json::object> pending;
        serve::AsyncSignal signal;
        bool overflowed = false;
    };

    using SubscriberList = std::list<std::shared_ptr<Subscriber>>;

    // Unsubscribes when destroyed; safe to outlive the bus (a coroutine frame destroyed at shutdown).
    class Subscription {
    public:
        Subscription(std::weak_ptr<SubscriberList> list, std::shared_ptr<Subscriber> subscriber)
            : list_(std::move(list)), subscriber_(std::move(subscriber)) {}
        ~Subscription() {
            if (auto list = list_.lock()) list->remove(subscriber_);
        }
        Subscription(const Subscription&) = delete;
        Subscription& operator=(const Subscription&) = delete;
        Subscriber* operator->() const noexcept { return subscriber_.get(); }

    private:
        std::weak_ptr<SubscriberList> list_;
        std::shared_ptr<Subscriber> subscriber_;
    };

    explicit EventBus(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

    // Adds "seq" and "time" (ms since the epoch) and delivers the event; `keep` false leaves it out
    // of the history (frequent events that would push the rest out: "requests").
    void publish(boost::json::object event, bool keep = true);

    // A new subscriber; it receives the history when `replay` is set, then every later event.
    std::unique_ptr<Subscription> subscribe(bool replay);

    const std::deque<boost::json::object>& history() const noexcept { return history_; }

private:
    boost::asio::any_io_executor ex_;
    uint64_t seq_ = 0;
    std::deque<boost::json::object> history_;
    std::shared_ptr<SubscriberList> subscribers_ = std::make_shared<SubscriberList>();
};

}  // namespace corral::admin
