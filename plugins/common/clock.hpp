// Wall-clock time as handles carry it (ProcessHandle::started_at_ms).
#pragma once

#include <chrono>
#include <cstdint>

namespace corral::plugin_common {

inline int64_t unix_time_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace corral::plugin_common
