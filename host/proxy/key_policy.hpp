// Per-key policy decisions, without I/O: which models a key sees, and whether a request it sends
// now fits its concurrency and rate (a token bucket per key; the clock is the caller's).
#pragma once

#include "config/config.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::proxy {

// Shell-style: `*` any run of characters, `?` one character, everything else itself.
bool glob_match(std::string_view pattern, std::string_view text);

// Whether `key` may see and reach the model `name` (known also by `aliases`): every model when
// the key has no "models" patterns, or when there is no key (none configured, or the admin key).
bool key_sees(const config::ApiKey* key, std::string_view name, const std::vector<std::string>& aliases);

class KeyLimiter {
public:
    using clock = std::chrono::steady_clock;

    struct Limited {
        const char* reason;  // "max_concurrency" or "requests_per_minute"
        int retry_after;     // seconds, at least 1
    };

    // Admits one request of `key` at `now`: it takes a token of the key's rate and, until
    // release(key.name), a place of its concurrency. A refused request takes neither.
    std::optional<Limited> admit(const config::ApiKey& key, clock::time_point now);
    void release(const std::string& name);

    uint32_t in_flight(const std::string& name) const;

private:
    struct State {
        uint32_t in_flight = 0;
        double tokens = 0;
        std::optional<clock::time_point> refilled;  // empty: a full bucket
    };
    std::map<std::string, State> states_;  // by key name: kept across reloads
};

// A request's place in its key's concurrency, given back when it ends.
class KeyPermit {
public:
    KeyPermit() = default;
    KeyPermit(KeyLimiter* limiter, std::string name) : limiter_(limiter), name_(std::move(name)) {}
    KeyPermit(KeyPermit&& other) noexcept : limiter_(std::exchange(other.limiter_, nullptr)), name_(std::move(other.name_)) {}
    KeyPermit& operator=(KeyPermit&& other) noexcept {
        if (this != &other) {
            reset();
            limiter_ = std::exchange(other.limiter_, nullptr);
            name_ = std::move(other.name_);
        }
        return *this;
    }
    KeyPermit(const KeyPermit&) = delete;
    KeyPermit& operator=(const KeyPermit&) = delete;
    ~KeyPermit() { reset(); }

private:
    void reset() {
        if (limiter_) limiter_->release(name_);
        limiter_ = nullptr;
    }
    KeyLimiter* limiter_ = nullptr;
    std::string name_;
};

}  // namespace corral::proxy
