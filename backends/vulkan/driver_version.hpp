// A Vulkan device's driverVersion as its vendor writes it: NVIDIA packs 10.8.8.6 bits and prints
// the third part with two digits ("580.159.04", as nvidia-smi), the others use Vulkan's version
// encoding (Mesa: "23.2.1").
#pragma once

#include <cstdint>
#include <string>

namespace corral::vulkan {

std::string driver_version(uint32_t vendor_id, uint32_t version);

}  // namespace corral::vulkan
