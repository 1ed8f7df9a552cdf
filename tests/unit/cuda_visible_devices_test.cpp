// CUDA_VISIBLE_DEVICES -> the GPUs and indices CUDA programs see, from NVML's PCI-ordered list.
#include "cuda_visible_devices.hpp"

#include <gtest/gtest.h>

namespace corral::cuda {
namespace {

const std::vector<std::string> kUuids = {"GPU-aaaa-0000", "GPU-bbbb-1111", "GPU-bbcc-2222"};

TEST(CudaVisibleDevices, UnsetShowsEveryGpuInOrder) {
    auto v = cuda_visible_order(std::nullopt, kUuids);
    EXPECT_EQ(v.order, (std::vector<std::size_t>{0, 1, 2}));
    EXPECT_TRUE(v.note.empty());
}

TEST(CudaVisibleDevices, IndicesAndUuidPrefixesRenumber) {
    auto v = cuda_visible_order("2, GPU-aaaa", kUuids);
    EXPECT_EQ(v.order, (std::vector<std::size_t>{2, 0}));
    EXPECT_NE(v.note.find("shows 2 of 3 GPUs"), std::string::npos) << v.note;
}

TEST(CudaVisibleDevices, TheListEndsAtTheFirstBadEntry) {
    EXPECT_EQ(cuda_visible_order("1,7,0", kUuids).order, (std::vector<std::size_t>{1}));       // out of range
    EXPECT_EQ(cuda_visible_order("0,GPU-bb,2", kUuids).order, (std::vector<std::size_t>{0}));  // ambiguous prefix
    EXPECT_EQ(cuda_visible_order("0,0,1", kUuids).order, (std::vector<std::size_t>{0}));       // repeated
    EXPECT_EQ(cuda_visible_order("x,0", kUuids).order, (std::vector<std::size_t>{}));
    auto mig = cuda_visible_order("MIG-1234", kUuids);
    EXPECT_TRUE(mig.order.empty());
    EXPECT_NE(mig.note.find("MIG"), std::string::npos);
    EXPECT_NE(cuda_visible_order("1,7", kUuids).note.find("index 7 is out of range"), std::string::npos);
}

TEST(CudaVisibleDevices, EmptyOrMinusOneHidesEverything) {
    EXPECT_TRUE(cuda_visible_order("", kUuids).order.empty());
    EXPECT_NE(cuda_visible_order("", kUuids).note.find("no GPU"), std::string::npos);
    EXPECT_TRUE(cuda_visible_order("-1", kUuids).order.empty());
}

}  // namespace
}  // namespace corral::cuda
