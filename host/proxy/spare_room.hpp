// Room that every new model-server connection and every streamed response needs, kept on its
// thread for the next one. llama-server ends the connection of each streamed response, so each
// such response allocated and freed three pieces of 16-32 KiB (its connection's read buffer and
// body piece, and the response's tail): sizes past malloc's per-thread caches, ~3 % of the relay's
// samples in the streaming section (bench/README.md). Per thread (an I/O thread relays only its own
// connections), so no lock; at most kKept of each kind, each no larger than its first use made it.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace corral::proxy {

// `T`: what is kept (movable, its room moving with it); `Tag`: which use, so that two uses of one
// type keep separate lists.
template <class T, class Tag>
class SpareRoom {
public:
    static constexpr std::size_t kKept = 64;

    // One given back earlier on this thread, or else `make()`.
    template <class Make>
    static T take(Make make) {
        auto& kept = list();
        if (kept.empty()) return make();
        T t = std::move(kept.back());
        kept.pop_back();
        return t;
    }

    // For the next take() on this thread; dropped when kKept are kept already.
    static void give_back(T t) {
        auto& kept = list();
        if (kept.size() < kKept) kept.push_back(std::move(t));
    }

private:
    static std::vector<T>& list() {
        thread_local std::vector<T> kept;
        return kept;
    }
};

}  // namespace corral::proxy
