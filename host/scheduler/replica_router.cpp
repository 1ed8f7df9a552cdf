#include "scheduler/replica_router.hpp"

#include <algorithm>
#include <cmath>

namespace corral::scheduler {
namespace {

std::optional<std::size_t> least_busy(const std::vector<ReplicaState>& replicas) {
    std::optional<std::size_t> best;
    // Compared as in_flight / slots without division: a.in_flight * b.slots < b.in_flight * a.slots.
    auto busier = [&](std::size_t a, std::size_t b) {
        const auto& x = replicas[a];
        const auto& y = replicas[b];
        return int64_t{x.in_flight} * std::max(1, y.slots) > int64_t{y.in_flight} * std::max(1, x.slots);
    };
    for (std::size_t i = 0; i < replicas.size(); ++i) {
        if (!replicas[i].available) continue;
        if (!best || busier(*best, i)) best = i;
    }
    return best;
}

}  // namespace

uint64_t stable_hash(std::string_view text) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    // FNV's low bits mix poorly for short keys; a final avalanche (splitmix64's) spreads them.
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

HashRing::HashRing(const std::vector<std::string>& ids, int virtual_nodes) : count_(ids.size()) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
        for (int v = 0; v < virtual_nodes; ++v) points_.push_back({stable_hash(ids[i] + "#" + std::to_string(v)), i});
    }
    std::sort(points_.begin(), points_.end());
}

std::vector<std::size_t> HashRing::walk(uint64_t key) const {
    std::vector<std::size_t> order;
    std::vector<bool> seen(count_, false);
    auto start = std::lower_bound(points_.begin(), points_.end(), std::pair<uint64_t, std::size_t>{key, 0});
    for (std::size_t n = 0; n < points_.size() && order.size() < count_; ++n) {
        auto it = start + static_cast<std::ptrdiff_t>(n);
        if (it >= points_.end()) it -= static_cast<std::ptrdiff_t>(points_.size());
        if (!seen[it->second]) {
            seen[it->second] = true;
            order.push_back(it->second);
        }
    }
    return order;
}

std::optional<std::size_t> choose_replica(const std::vector<ReplicaState>& replicas, const HashRing& ring, Routing routing,
                                          std::optional<std::string_view> affinity, double load_factor) {
    if (routing == Routing::LeastBusy || !affinity || ring.size() != replicas.size()) return least_busy(replicas);
    int64_t total = 0;
    int64_t available = 0;
    for (const auto& r : replicas) {
        if (!r.available) continue;
        total += r.in_flight;
        ++available;
    }
    if (available == 0) return std::nullopt;
    // Consistent hashing with bounded loads: with this request, no replica above c x the mean.
    const auto bound = static_cast<int64_t>(std::ceil(load_factor * static_cast<double>(total + 1) / static_cast<double>(available)));
    for (auto i : ring.walk(stable_hash(*affinity))) {
        if (replicas[i].available && replicas[i].in_flight + 1 <= bound) return i;
    }
    return least_busy(replicas);
}

bool wants_another_replica(const std::vector<ReplicaState>& serving, std::size_t queued, int32_t starting, int32_t loaded, int32_t max) {
    if (serving.empty() || starting > 0 || loaded >= max) return false;
    if (queued > 0) return true;
    return std::all_of(serving.begin(), serving.end(), [](const ReplicaState& r) { return r.in_flight > std::max(1, r.slots); });
}

}  // namespace corral::scheduler
