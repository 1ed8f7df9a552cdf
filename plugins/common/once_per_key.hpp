// A value learnt once per key by a slow call (a binary's --help, an image's features), with the
// callers that ask for the same key meanwhile waiting for that one call instead of each making their
// own: eight concurrent starts run one `llama-server --help`, not eight.
#pragma once

#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <utility>

namespace corral::plugin_common {

template <class Key, class Value>
class OncePerKey {
public:
    // The value for `key`: known, being learnt by another caller (waited for), or learnt now by
    // `learn()`. A `learn` that throws is not remembered: its exception reaches every caller that
    // waited on it, and the next call tries again.
    template <class Learn>
    Value get(const Key& key, Learn&& learn) {
        std::promise<Value> promise;
        std::shared_future<Value> future;
        bool mine = false;
        {
            std::lock_guard lock(mutex_);
            if (auto it = known_.find(key); it != known_.end()) {
                future = it->second;
            } else {
                future = promise.get_future().share();
                known_.emplace(key, future);
                mine = true;
            }
        }
        if (mine) {
            try {
                promise.set_value(std::forward<Learn>(learn)());
            } catch (...) {
                {
                    std::lock_guard lock(mutex_);
                    known_.erase(key);
                }
                promise.set_exception(std::current_exception());
            }
        }
        return future.get();
    }

private:
    std::mutex mutex_;
    std::map<Key, std::shared_future<Value>> known_;
};

}  // namespace corral::plugin_common
