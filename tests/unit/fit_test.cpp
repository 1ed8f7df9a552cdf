// Memory estimates, layer plans and the figures read from llama-server's log.
#include "fit/layer_plan.hpp"
#include "fit/memory_estimate.hpp"
#include "fit/memory_planner.hpp"
#include "fit/model_fit.hpp"
#include "fit/server_memory_log.hpp"

#include "gguf_builder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corral::fit {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// Shaped like Llama 3 8B: 32 layers, 32 heads (8 KV) of 128, embedding 4096, FFN 14336, vocab 128256.
gguf::ModelInfo llama3_8b() {
    gguf::ModelInfo m;
    m.architecture = "llama";
    m.block_count = 32;
    m.context_length = 8192;
    m.embedding_length = 4096;
    m.feed_forward_length = 14336;
    m.head_count.assign(32, 32);
    m.head_count_kv.assign(32, 8);
    m.vocab_size = 128256;
    m.layer_bytes.assign(32, 100 * kMiB);
    m.input_bytes = 250 * kMiB;
    m.output_bytes = 400 * kMiB;
    m.tensor_bytes = 32 * 100 * kMiB + 650 * kMiB;
    return m;
}

TEST(MemoryEstimate, KvCacheFollowsHeadsContextAndCacheType) {
    EstimateOptions o;
    o.ctx_size = 8192;
    auto e = estimate_memory(llama3_8b(), o);
    // Per layer and cell: K and V rows of 8 heads x 128 in f16 = 2 x 1024 x 2 bytes.
    EXPECT_EQ(e.layer_kv[0], 8192u * 2 * 1024 * 2);
    EXPECT_EQ(e.kv, 32u * 8192 * 4096);  // 1 GiB, llama.cpp's figure for this model at 8k
    o.cache_type_k = o.cache_type_v = "q8_0";
    auto q = estimate_memory(llama3_8b(), o);
    EXPECT_EQ(q.layer_kv[0], 8192u * 2 * (1024 / 32 * 34));
    EXPECT_EQ(q.weights, e.weights);
}

TEST(MemoryEstimate, DefaultsToTheTrainedContextAndChecksCacheTypes) {
    auto e = estimate_memory(llama3_8b(), {});
    EXPECT_EQ(e.ctx_size, 8192u);
    EstimateOptions bad;
    bad.cache_type_k = "q4_K";  // not a KV cache type
    EXPECT_THROW(estimate_memory(llama3_8b(), bad), std::invalid_argument);
}

TEST(MemoryEstimate, ComputeAllowanceGrowsWithoutFlashAttention) {
    EstimateOptions o;
    auto fa = estimate_memory(llama3_8b(), o);
    o.flash_attention = false;
    auto no_fa = estimate_memory(llama3_8b(), o);
    EXPECT_GT(fa.compute, 100 * kMiB);
    EXPECT_EQ(no_fa.compute - fa.compute, 512u * 8192 * 32 * 4);
}

TEST(LayerPlan, OffloadsTheOutputFirstThenLayersFromTheEnd) {
    MemoryEstimate e;
    e.layer_count = 3;
    e.layer_weights = {10, 10, 10};
    e.layer_kv = {5, 5, 5};
    e.input_weights = 7;
    e.output_weights = 4;
    e.compute = 20;
    auto none = split_layers(e, 0);
    EXPECT_EQ(none.gpu_bytes, 0u);
    EXPECT_EQ(none.host_bytes, 7u + 4 + 20 + 45);
    auto one = split_layers(e, 1);  // output layer only
    EXPECT_EQ(one.gpu_bytes, 4u + 20);
    auto all = split_layers(e, 99);
    EXPECT_EQ(all.gpu_layers, 4);
    EXPECT_EQ(all.gpu_bytes, 4u + 20 + 45);
    EXPECT_EQ(all.host_bytes, 7u);
    EXPECT_EQ(plan_layers(e, 23).gpu_layers, 0);  // not even the compute buffers fit
    EXPECT_EQ(plan_layers(e, 40).gpu_layers, 2);  // output + one layer = 39
    EXPECT_EQ(plan_layers(e, 1000).gpu_layers, 4);
}

TEST(LayerPlan, GpusComeFromOneBackendAndKeepTheHeadroom) {
    sdk::ProbeReport cuda{"cuda", true, "", {}, std::nullopt};
    sdk::DeviceInfo gpu;
    gpu.backend = "cuda";
    gpu.memory_total = 10000 * kMiB;
    gpu.memory_free = 9000 * kMiB;
    cuda.devices = {gpu, gpu};
    sdk::ProbeReport vulkan{"vulkan", true, "", {}, std::nullopt};
    auto same = gpu;
    same.backend = "vulkan";
    sdk::DeviceInfo llvmpipe;
    llvmpipe.backend = "vulkan";
    llvmpipe.type = "cpu";
    vulkan.devices = {same, llvmpipe};
    EXPECT_EQ(gpus_of({vulkan, cuda}).size(), 2u);  // CUDA's view wins over Vulkan's of the same GPUs
    EXPECT_EQ(gpus_of({vulkan}).size(), 1u);        // llvmpipe is not a GPU to offload to
    EXPECT_EQ(gpu_available(gpus_of({cuda}), 0.1), 2 * 8000 * kMiB);
    EXPECT_EQ(fit_targets_mib(gpus_of({cuda}), 0.1), (std::vector<uint64_t>{1000, 1000}));
    EXPECT_EQ(fit_targets_mib(gpus_of({cuda}), 0.0), (std::vector<uint64_t>{256, 256}));
}

TEST(FitRequest, FollowsTheServerSettings) {
    sdk::ServerConfig s;
    s.ctx_size = 4096;
    s.cache_type_k = "q8_0";
    s.flash_attn = "off";
    s.gpu_layers = "all";
    auto r = fit_request_for(s, {}, 0.2);
    EXPECT_EQ(r.estimate.ctx_size, 4096u);
    EXPECT_EQ(r.estimate.cache_type_k, "q8_0");
    EXPECT_EQ(r.estimate.cache_type_v, "f16");
    EXPECT_FALSE(r.estimate.flash_attention);
    EXPECT_EQ(r.gpu_layers, "all");
    EXPECT_DOUBLE_EQ(r.headroom, 0.2);
}

TEST(ServerMemoryLog, ReadsBufferSizesPerDeviceAndOffloadedLayers) {
    ServerMemoryLog log;
    EXPECT_TRUE(log.add_line("0.00.013.340 I load_tensors:   CPU_Mapped model buffer size =     0.46 MiB"));
    EXPECT_TRUE(log.add_line("load_tensors:        CUDA0 model buffer size =  4403.50 MiB"));
    EXPECT_TRUE(log.add_line("load_tensors: offloaded 33/33 layers to GPU"));
    EXPECT_TRUE(log.add_line("llama_kv_cache:      CUDA0 KV buffer size =  1024.00 MiB"));
    EXPECT_TRUE(log.add_line("llama_context:  CUDA_Host  output buffer size =     0.49 MiB"));
    EXPECT_TRUE(log.add_line("sched_reserve:      CUDA0 compute buffer size =   258.50 MiB"));
    EXPECT_TRUE(log.add_line("sched_reserve:  CUDA_Host compute buffer size =    16.01 MiB"));
    EXPECT_FALSE(log.add_line("srv  update_slots: all slots are idle"));
    EXPECT_FALSE(log.add_line("weird: x buffer size = lots"));
    ASSERT_EQ(log.devices.size(), 3u);
    EXPECT_EQ(log.devices[1].device, "CUDA0");
    EXPECT_EQ(log.devices[1].model, static_cast<uint64_t>(4403.5 * kMiB));
    EXPECT_EQ(log.kv(), 1024 * kMiB);
    EXPECT_EQ(log.compute(), static_cast<uint64_t>(258.5 * kMiB) + static_cast<uint64_t>(16.01 * kMiB + 0.5));
    EXPECT_EQ(log.offloaded_layers, 33);
    EXPECT_EQ(log.total_layers, 33);
    EXPECT_EQ(log.total(), log.model() + log.kv() + log.compute() + static_cast<uint64_t>(0.49 * kMiB + 0.5));
}

class MemoryPlannerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("corral-planner-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        // 4 layers of 1 MiB weights; 2 KV heads of 64 at f16 over 1024 cells = 512 KiB KV per layer.
        test::GgufBuilder b;
        b.kv_str("general.architecture", "llama")
            .kv_u32("llama.block_count", 4)
            .kv_u32("llama.context_length", 1024)
            .kv_u32("llama.embedding_length", 256)
            .kv_u32("llama.attention.head_count", 4)
            .kv_u32("llama.attention.head_count_kv", 2);
        for (int l = 0; l < 4; ++l) b.tensor("blk." + std::to_string(l) + ".w", {256, 1024}, 0, kMiB);
        b.tensor("output.weight", {256, 256}, 0, 256 * 256 * 4);
        auto bytes = b.build();
        std::ofstream(dir_ / "m.gguf", std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        model_.name = "m";
        model_.server.model_path = (dir_ / "m.gguf").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    static sdk::DeviceInfo gpu(uint64_t total, uint64_t free) {
        sdk::DeviceInfo d;
        d.backend = "cuda";
        d.memory_total = total;
        d.memory_free = free;
        return d;
    }

    std::filesystem::path dir_;
    config::ModelConfig model_;
};

TEST_F(MemoryPlannerTest, SizesFromConfigMeasurementEstimateOrFile) {
    MemoryPlanner planner;
    auto estimated = planner.size(model_, "fp");
    EXPECT_EQ(estimated.source, "estimate");
    EXPECT_EQ(estimated.bytes, estimate_memory(gguf::describe(gguf::read_file(model_.server.model_path)), {}).total());

    ServerMemoryLog log;
    log.add_line("CPU model buffer size = 10.00 MiB");
    planner.record("fp", log);
    EXPECT_EQ(planner.size(model_, "fp").source, "measured");
    EXPECT_EQ(planner.size(model_, "fp").bytes, 10 * kMiB);
    EXPECT_EQ(planner.size(model_, "other settings").source, "estimate");  // measurements are per fingerprint

    auto by_hand = model_;
    by_hand.memory = 123;
    EXPECT_EQ(planner.size(by_hand, "fp").source, "config");
    auto not_gguf = model_;
    std::ofstream(dir_ / "weights.bin") << "not a gguf";
    not_gguf.server.model_path = (dir_ / "weights.bin").string();
    EXPECT_EQ(planner.size(not_gguf, "x").source, "file size");
    EXPECT_EQ(planner.size(not_gguf, "x").bytes, 10u);
    not_gguf.server.model_path = (dir_ / "missing.gguf").string();
    EXPECT_EQ(planner.size(not_gguf, "x").source, "unknown");
}

TEST_F(MemoryPlannerTest, AutoLayersGetAPlanAndFitTargetsOnlyWithGpus) {
    MemoryPlanner planner;
    auto m = model_;
    m.server.gpu_layers.emplace("auto");
    planner.prepare_launch(m, {});  // no GPU: the server decides alone
    EXPECT_FALSE(m.server.fit_gpu_layers);
    EXPECT_TRUE(m.server.fit_target_mib.empty());

    // 2.5 MiB of room after the compute allowance and the output layer: two of the four layers.
    auto e = estimate_memory(gguf::describe(gguf::read_file(model_.server.model_path)), {});
    const uint64_t room = e.compute + e.output_weights + 2 * (kMiB + e.layer_kv[0]) + kMiB / 2;
    planner.set_headroom(0.0);
    planner.prepare_launch(m, {gpu(room, room)});
    EXPECT_EQ(m.server.fit_gpu_layers, 3);  // the output layer and two repeating layers
    EXPECT_EQ(m.server.fit_target_mib, std::vector<uint64_t>{256});

    auto fixed = model_;
    fixed.server.gpu_layers.emplace("all");
    planner.prepare_launch(fixed, {gpu(room, room)});
    EXPECT_FALSE(fixed.server.fit_gpu_layers);
}

}  // namespace
}  // namespace corral::fit
