#include "scheduler/swap_policy.hpp"

namespace corral::scheduler {
namespace {

bool starved(const Contender& c, SwapClock::time_point now, const SwapSettings& settings) {
    return now - c.waiting_since >= settings.max_wait;
}

}  // namespace

bool goes_before(const Contender& a, const Contender& b, SwapClock::time_point now, const SwapSettings& settings) {
    const bool a_starved = starved(a, now, settings), b_starved = starved(b, now, settings);
    if (a_starved != b_starved) return a_starved;
    if (!a_starved && a.priority != b.priority) return a.priority > b.priority;
    return a.waiting_since < b.waiting_since;
}

const Contender& most_urgent(const Contender& a, const Contender& b, SwapClock::time_point now, const SwapSettings& settings) {
    return goes_before(b, a, now, settings) ? b : a;
}

bool may_take_request(const Yield& yield, int32_t server_priority, const Contender& contender, SwapClock::time_point now,
                      const SwapSettings& settings) {
    if (yield.granted < 1) return true;
    if (starved(contender, now, settings)) return false;
    if (contender.priority < server_priority) return true;
    if (settings.batch_requests && yield.granted >= *settings.batch_requests) return false;
    if (settings.batch_time && now - yield.since >= *settings.batch_time) return false;
    return true;
}

}  // namespace corral::scheduler
