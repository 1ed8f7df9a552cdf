#include "proxy/key_policy.hpp"

#include <algorithm>
#include <cmath>

namespace corral::proxy {

bool glob_match(std::string_view pattern, std::string_view text) {
    // Iterative, with one backtrack point: linear in practice, never exponential.
    std::size_t p = 0, t = 0;
    std::size_t star = std::string_view::npos, star_text = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            star_text = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++star_text;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

bool key_sees(const config::ApiKey* key, std::string_view name, const std::vector<std::string>& aliases) {
    if (!key || key->models.empty()) return true;
    return std::any_of(key->models.begin(), key->models.end(), [&](const std::string& pattern) {
        return glob_match(pattern, name) ||
               std::any_of(aliases.begin(), aliases.end(), [&](const std::string& alias) { return glob_match(pattern, alias); });
    });
}

std::optional<KeyLimiter::Limited> KeyLimiter::admit(const config::ApiKey& key, clock::time_point now) {
    if (!key.max_concurrency && !key.requests_per_minute) return std::nullopt;
    auto& state = states_[key.name];
    if (key.max_concurrency && state.in_flight >= *key.max_concurrency) return Limited{"max_concurrency", 1};
    if (key.requests_per_minute) {
        const double capacity = *key.requests_per_minute;
        const double per_second = capacity / 60.0;
        if (!state.refilled) {
            state.tokens = capacity;
        } else {
            const double elapsed = std::chrono::duration<double>(now - *state.refilled).count();
            state.tokens = std::min(capacity, state.tokens + std::max(0.0, elapsed) * per_second);
        }
        state.refilled = now;
        if (state.tokens < 1.0) {
            const double wait = (1.0 - state.tokens) / per_second;
            return Limited{"requests_per_minute", std::max(1, static_cast<int>(std::ceil(wait)))};
        }
        state.tokens -= 1.0;
    }
    ++state.in_flight;
    return std::nullopt;
}

void KeyLimiter::release(const std::string& name) {
    auto it = states_.find(name);
    if (it != states_.end() && it->second.in_flight > 0) --it->second.in_flight;
}

uint32_t KeyLimiter::in_flight(const std::string& name) const {
    auto it = states_.find(name);
    return it == states_.end() ? 0 : it->second.in_flight;
}

}  // namespace corral::proxy
