#include "scheduler/placement.hpp"

#include <algorithm>

namespace corral::scheduler {

Placement plan_placement(const std::vector<LoadedModel>& loaded, uint64_t needed, const Limits& limits) {
    Placement plan;
    if (limits.memory_budget && needed > *limits.memory_budget) needed = *limits.memory_budget;
    auto fits = [&](std::size_t count, uint64_t used) {
        return (!limits.max_loaded || count + 1 <= static_cast<std::size_t>(*limits.max_loaded)) &&
               (!limits.memory_budget || used + needed <= *limits.memory_budget);
    };
    std::size_t count = loaded.size();
    uint64_t used = 0;
    for (const auto& m : loaded) used += m.memory;
    if (fits(count, used)) return plan;

    // Models already stopping will make room by themselves.
    for (const auto& m : loaded) {
        if (m.stopping) {
            --count;
            used -= m.memory;
        }
    }
    if (fits(count, used)) {
        plan.kind = Placement::Kind::Wait;
        plan.reason = "waiting for a model to stop";
        return plan;
    }
    std::vector<const LoadedModel*> candidates;
    for (const auto& m : loaded) {
        if (m.idle && !m.stopping) candidates.push_back(&m);
    }
    std::sort(candidates.begin(), candidates.end(), [](const auto* a, const auto* b) { return a->last_used < b->last_used; });
    for (const auto* m : candidates) {
        plan.evict.push_back(m->name);
        --count;
        used -= m->memory;
        if (fits(count, used)) {
            plan.kind = Placement::Kind::Evict;
            return plan;
        }
    }
    plan.evict.clear();
    plan.kind = Placement::Kind::Wait;
    plan.reason = "every loaded model is busy";
    return plan;
}

}  // namespace corral::scheduler
