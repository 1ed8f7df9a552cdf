#include "driver_version.hpp"

#include <cstdio>

namespace corral::vulkan {

std::string driver_version(uint32_t vendor_id, uint32_t version) {
    constexpr uint32_t kNvidia = 0x10DE;
    char buf[32];
    if (vendor_id == kNvidia) {
        std::snprintf(buf, sizeof buf, "%u.%u.%02u", version >> 22, (version >> 14) & 0xffu, (version >> 6) & 0xffu);
    } else {  // VK_API_VERSION_MAJOR / MINOR / PATCH
        std::snprintf(buf, sizeof buf, "%u.%u.%u", (version >> 22) & 0x7fu, (version >> 12) & 0x3ffu, version & 0xfffu);
    }
    return buf;
}

}  // namespace corral::vulkan
