// A Vulkan driverVersion as the vendor writes it (NVIDIA's seen on an H200: docs/gpu-h200.md).
#include "driver_version.hpp"

#include <gtest/gtest.h>

namespace corral::vulkan {
namespace {

TEST(VulkanDriverVersion, NvidiaPacksItsOwnWayAndPrintsTwoDigitsLast) {
    const uint32_t nvidia_580_159_04 = (580u << 22) | (159u << 14) | (4u << 6);
    EXPECT_EQ(driver_version(0x10DE, nvidia_580_159_04), "580.159.04");  // nvidia-smi's "580.159.04"
    EXPECT_EQ(driver_version(0x10DE, (550u << 22) | (54u << 14) | (15u << 6)), "550.54.15");
}

TEST(VulkanDriverVersion, OthersUseVulkansVersionEncoding) {
    const uint32_t mesa_23_2_1 = (23u << 22) | (2u << 12) | 1u;  // VK_MAKE_API_VERSION(0, 23, 2, 1)
    EXPECT_EQ(driver_version(0x1002, mesa_23_2_1), "23.2.1");
    EXPECT_EQ(driver_version(0x10005, mesa_23_2_1), "23.2.1");  // llvmpipe (Mesa's vendor id)
}

}  // namespace
}  // namespace corral::vulkan
