#include "admin/event_bus.hpp"

#include <chrono>

namespace corral::admin {

void EventBus::publish(boost::json::object event, bool keep) {
    event["seq"] = ++seq_;
    event["time"] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (keep) {
        history_.push_back(event);
        if (history_.size() > kHistory) history_.pop_front();
    }
    for (auto& s : *subscribers_) {
        if (s->pending.size() >= kSubscriberBacklog) {
            s->overflowed = true;
        } else {
            s->pending.push_back(event);
        }
        s->signal.notify();
    }
}

std::unique_ptr<EventBus::Subscription> EventBus::subscribe(bool replay) {
    auto s = std::make_shared<Subscriber>(ex_);
    if (replay) s->pending.assign(history_.begin(), history_.end());
    subscribers_->push_back(s);
    return std::make_unique<Subscription>(subscribers_, s);
}

}  // namespace corral::admin
