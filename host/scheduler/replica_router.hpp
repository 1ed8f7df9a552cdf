// Which replica of a model takes a request. With prefix routing, requests whose prompts start alike
// go to the same replica, so its prompt cache hits: consistent hashing of the prompt prefix (or a
// session id) on a ring of virtual nodes, with bounded load (no replica above `load_factor` x the
// mean in flight; a request that would push one past it spills to the next replica on the ring).
// With least_busy, the replica with the fewest requests in flight per slot. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::scheduler {

enum class Routing { Prefix, LeastBusy };

struct ReplicaState {
    std::string id;         // stable across the replica's restarts ("model#0"): the ring does not move
    int32_t in_flight = 0;  // requests it is answering
    int32_t slots = 1;      // requests it answers at once (llama-server --parallel)
    bool available = true;  // serving, and not the one a retry moves away from
};

// FNV-1a, 64 bits: the same key lands on the same point in every corral process.
uint64_t stable_hash(std::string_view text);

class HashRing {
public:
    // `virtual_nodes` points per replica smooth the share each replica gets of the key space.
    explicit HashRing(const std::vector<std::string>& ids, int virtual_nodes = 64);

    // Every replica once, in ring order from the key's point.
    std::vector<std::size_t> walk(uint64_t key) const;
    std::size_t size() const noexcept { return count_; }

private:
    std::vector<std::pair<uint64_t, std::size_t>> points_;  // sorted by hash
    std::size_t count_ = 0;
};

// The replica (index into `replicas`) for a request; nullopt when none is available. `affinity`
// is the request's prompt prefix or session id (prefix routing without one falls back to least_busy).
std::optional<std::size_t> choose_replica(const std::vector<ReplicaState>& replicas, const HashRing& ring, Routing routing,
                                          std::optional<std::string_view> affinity, double load_factor = 1.25);

// Whether a model with autoscaling replicas should start one more: every serving replica has requests
// waiting (more in flight than its slots, or corral queues requests for it), none is starting (its
// effect is not known yet), and fewer than `max` run. `serving` lists the serving replicas only.
bool wants_another_replica(const std::vector<ReplicaState>& serving, std::size_t queued, int32_t starting, int32_t loaded, int32_t max);

}  // namespace corral::scheduler
