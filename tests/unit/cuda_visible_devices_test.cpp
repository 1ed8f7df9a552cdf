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
    auto v = cuda_visible_order("2, 0", kUuids);
    EXPECT_EQ(v.order, (std::vector<std::size_t>{2, 0}));
    EXPECT_NE(v.note.find("shows 2 of 3 GPUs"), std::string::npos) << v.note;
    EXPECT_EQ(cuda_visible_order("GPU-bbcc, GPU-aaaa-0000", kUuids).order, (std::vector<std::size_t>{2, 0}));
    EXPECT_EQ(cuda_visible_order("+1,02", kUuids).order, (std::vector<std::size_t>{1, 2}));  // as strtol reads them
}

// The driver takes one kind per list, the first entry's: the other kind ends it (an index after a
// UUID, as "GPU-x,0,0", shows one GPU where "0,0" shows none).
TEST(CudaVisibleDevices, AListIsOfIndicesOrOfUuids) {
    auto uuid_first = cuda_visible_order("GPU-bbbb,0,0", kUuids);
    EXPECT_EQ(uuid_first.order, (std::vector<std::size_t>{1}));
    EXPECT_NE(uuid_first.note.find("\"0\" is an index in a list of UUIDs"), std::string::npos) << uuid_first.note;
    auto index_first = cuda_visible_order("2,GPU-aaaa,0", kUuids);
    EXPECT_EQ(index_first.order, (std::vector<std::size_t>{2}));
    EXPECT_NE(index_first.note.find("a UUID in a list of indices"), std::string::npos) << index_first.note;
    EXPECT_EQ(cuda_visible_order("0,GPU-aaaa", kUuids).order, (std::vector<std::size_t>{0}));  // not "named twice"
}

TEST(CudaVisibleDevices, TheListEndsAtTheFirstBadEntry) {
    EXPECT_EQ(cuda_visible_order("1,7,0", kUuids).order, (std::vector<std::size_t>{1}));       // out of range
    EXPECT_EQ(cuda_visible_order("0,GPU-bb,2", kUuids).order, (std::vector<std::size_t>{0}));  // ambiguous prefix
    EXPECT_EQ(cuda_visible_order("x,0", kUuids).order, (std::vector<std::size_t>{}));
    auto mig = cuda_visible_order("MIG-1234", kUuids);
    EXPECT_TRUE(mig.order.empty());
    EXPECT_NE(mig.note.find("MIG"), std::string::npos);
    EXPECT_NE(cuda_visible_order("1,7", kUuids).note.find("index 7 is out of range"), std::string::npos);
}

// The driver fails to initialise rather than ending the list (docs/gpu-h200.md: "0,0" on an H200).
TEST(CudaVisibleDevices, AGpuNamedTwiceHidesEveryGpu) {
    for (const char* twice : {"0,0,1", "1,0,01", "0,+0", "GPU-aaaa,GPU-aaaa-0000", "GPU-bbcc, GPU-bbcc", "2,2,GPU-aaaa"}) {
        auto v = cuda_visible_order(twice, kUuids);
        EXPECT_TRUE(v.order.empty()) << twice;
        EXPECT_NE(v.note.find("twice: CUDA programs see no GPU"), std::string::npos) << v.note;
    }
    // Past the entry that ends the list nothing counts, a repeat either.
    EXPECT_EQ(cuda_visible_order("0,7,0", kUuids).order, (std::vector<std::size_t>{0}));
    EXPECT_EQ(cuda_visible_order("0,x,0", kUuids).order, (std::vector<std::size_t>{0}));
    EXPECT_EQ(cuda_visible_order("7,7", kUuids).order, (std::vector<std::size_t>{}));
}

TEST(CudaVisibleDevices, EmptyOrMinusOneHidesEverything) {
    EXPECT_TRUE(cuda_visible_order("", kUuids).order.empty());
    EXPECT_NE(cuda_visible_order("", kUuids).note.find("no GPU"), std::string::npos);
    EXPECT_TRUE(cuda_visible_order("-1", kUuids).order.empty());
}

}  // namespace
}  // namespace corral::cuda
