// Storage for a line that overwrites an older one in a ring of kept lines (a runner's LogRing, the
// host's LogBuffer): a busy server writes thousands of lines a second, so a line is copied into the
// string it replaces, keeping that string's storage (no allocation or free once lines stop growing).
#pragma once

#include <string>
#include <string_view>

namespace corral::plugin_common {

// `kept` becomes `line`. Its storage is reused unless it is much larger than `line` needs, so a
// burst of long lines (the runners cut them at 64 KiB) does not stay allocated in every slot it
// passed through.
inline void overwrite_line(std::string& kept, std::string_view line) {
    if (kept.capacity() > 2 * line.size() + 256)
        std::string(line).swap(kept);  // assigning a short string would keep the storage
    else
        kept.assign(line.data(), line.size());
}

}  // namespace corral::plugin_common
