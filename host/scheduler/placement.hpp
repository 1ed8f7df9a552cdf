// Whether one more model fits beside the loaded ones (max_loaded and the memory budget), and if
// not, which idle models to evict, least recently used first. Busy models are never chosen.
// A model bigger than the whole budget is loaded alone (the estimate may be pessimistic, e.g. a
// model split between GPU and RAM): it counts as needing the whole budget.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace corral::scheduler {

struct LoadedModel {
    std::string name;
    uint64_t memory = 0;
    bool idle = false;      // no request in flight or waiting
    bool stopping = false;  // already on its way out (still holds its memory)
    std::chrono::steady_clock::time_point last_used;
};

struct Limits {
    std::optional<int32_t> max_loaded;
    std::optional<uint64_t> memory_budget;
};

struct Placement {
    enum class Kind {
        Fits,   // start it now
        Evict,  // stop `evict` first, then start it
        Wait,   // room will come from models already stopping or from busy models going idle
    };
    Kind kind = Kind::Fits;
    std::vector<std::string> evict;
    std::string reason;  // for Wait
};

Placement plan_placement(const std::vector<LoadedModel>& loaded, uint64_t needed, const Limits& limits);

}  // namespace corral::scheduler
