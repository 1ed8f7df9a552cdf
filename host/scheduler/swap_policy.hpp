// Who goes next when models outnumber the room (scheduler.swap_batch, max_wait_for_swap, priority).
// A model waiting for room is a contender; a loaded server whose room a contender needs is asked to
// yield: it takes a bounded batch of further requests (its queue first: ABAB arrivals are served
// AABB), then none, so it goes idle and the contender evicts it; its remaining requests wait for its
// next turn. A contender of lower priority does not hurry a loaded server, unless it has waited
// max_wait_for_swap: then it goes next whatever is queued for others. Pure: no I/O, the caller
// passes the time, so every rule is unit-tested in microseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace corral::scheduler {

using SwapClock = std::chrono::steady_clock;

struct SwapSettings {
    std::optional<int32_t> batch_requests;                // further requests a yielding server takes; empty: no bound
    std::optional<std::chrono::milliseconds> batch_time;  // how long it goes on taking them; empty: no bound
    std::chrono::milliseconds max_wait{std::chrono::seconds(30)};
};

// A model waiting for room: since when (this turn: a model that just lost its room waits afresh),
// and its priority.
struct Contender {
    int32_t priority = 0;
    SwapClock::time_point waiting_since{};
};

// Whether `a` is placed before `b`: a contender past max_wait first (the longer waiting first), then
// the higher priority, then the longer waiting.
bool goes_before(const Contender& a, const Contender& b, SwapClock::time_point now, const SwapSettings& settings);

// The contender whose claim on a server is the most urgent of two.
const Contender& most_urgent(const Contender& a, const Contender& b, SwapClock::time_point now, const SwapSettings& settings);

// A loaded server asked to yield: since when (not before it was ready), and the requests it took since.
struct Yield {
    SwapClock::time_point since{};
    int32_t granted = 0;
};

// Whether a server asked to yield to `contender` may take one more request. It always takes one (a
// server loaded for its waiters serves at least one of them per turn: two models can never swap
// each other out without progress).
bool may_take_request(const Yield& yield, int32_t server_priority, const Contender& contender, SwapClock::time_point now,
                      const SwapSettings& settings);

}  // namespace corral::scheduler
