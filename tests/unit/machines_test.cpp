// Machines from probe reports and runner descriptions, and what a placement does to a server's launch.
#include "scheduler/machines.hpp"
#include "scheduler/server_devices.hpp"

#include "mock_process_runner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace corral::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr uint64_t GiB = 1ull << 30;

sdk::ProbeReport cuda(const std::vector<uint64_t>& gib) {
    auto r = test::cuda_report(gib);
    for (auto& d : r.devices) d.uuid = "GPU-" + std::to_string(d.index) + "aaaaaaa-0000-0000-0000-000000000000";
    return r;
}

sdk::ProbeReport cpu(uint64_t ram_gib) {
    sdk::ProbeReport r;
    r.backend = "cpu";
    r.available = true;
    r.system = sdk::SystemInfo{ram_gib * GiB, ram_gib * GiB, "cpu", 8, 16};
    return r;
}

TEST(Machines, TheProbesDescribeTheLocalMachineWithEachGpusOwnBudget) {
    auto m = describe_machine("local", {cpu(64), cuda({8, 24})}, 0.25);
    ASSERT_EQ(m.devices.size(), 2u);
    EXPECT_EQ(m.devices[0].id, "cuda:0");
    EXPECT_EQ(m.devices[1].id, "cuda:1");
    EXPECT_EQ(m.devices[1].memory_total, 24 * GiB);
    EXPECT_EQ(m.devices[1].capacity, 18 * GiB);  // memory_headroom applies per device
    EXPECT_EQ(m.ram_total, 64 * GiB);
    EXPECT_EQ(m.ram_capacity, 48 * GiB);
    EXPECT_FALSE(m.overall_cap);

    // scheduler.memory_budget caps everything and is the RAM budget.
    m = describe_machine("local", {cpu(64)}, 0.1, 10 * GiB);
    EXPECT_TRUE(m.devices.empty());
    EXPECT_EQ(m.ram_capacity, 10 * GiB);
    EXPECT_EQ(m.overall_cap, 10 * GiB);
}

TEST(Machines, LocalRunnersShareTheHostsMachineAndRemoteOnesHaveTheirOwn) {
    sdk::MachineInfo box2{"box2", false, {cpu(128), cuda({80})}};
    sdk::MachineInfo cluster{"gpu-cluster", true, {}};
    MachineMap map(describe_machine("local", {cpu(64), cuda({24})}, 0.1),
                   {{"local", false, {}},
                    {"podman", false, {}},
                    {"ssh-box2", true, {box2}},
                    {"old-remote", true, {}},
                    {"slurm", true, {cluster}},
                    {"box2-again", true, {box2}}},
                   0.1);
    ASSERT_EQ(map.machines().size(), 4u);
    EXPECT_EQ(map.of_runner("local").name, "local");
    EXPECT_EQ(map.of_runner("podman").name, "local");
    EXPECT_EQ(map.of_runner("unknown").name, "local");
    const auto& remote = map.of_runner("ssh-box2");
    EXPECT_EQ(remote.name, "box2");
    ASSERT_EQ(remote.devices.size(), 1u);
    EXPECT_EQ(remote.devices[0].capacity, static_cast<uint64_t>(80 * GiB * 0.9));
    EXPECT_EQ(&map.of_runner("box2-again"), &remote);  // one machine, one ledger
    // A remote runner that describes nothing: a machine of its own, capacity unknown.
    EXPECT_EQ(map.of_runner("old-remote").name, "old-remote");
    EXPECT_FALSE(map.of_runner("old-remote").ram_capacity);
    EXPECT_TRUE(map.of_runner("slurm").managed_elsewhere);
    EXPECT_THAT(map.runners_on("local"), ElementsAre("local", "podman"));
    EXPECT_THAT(map.runners_on("box2"), ElementsAre("box2-again", "ssh-box2"));
}

TEST(ServerDevices, TheServerSeesOnlyItsGpusByUuidWithTheSplit) {
    auto machine = describe_machine("local", {cuda({8, 24, 24})}, 0.0);
    config::ModelConfig model;
    Reservation r{"local", {{"cuda:1", 20 * GiB}, {"cuda:2", 10 * GiB}}, 0};
    EXPECT_TRUE(apply_placement(model, machine, r).empty());
    EXPECT_EQ(model.server.env.at("CUDA_VISIBLE_DEVICES"), machine.devices[1].uuid + "," + machine.devices[2].uuid);
    EXPECT_THAT(model.server.devices, ElementsAre("cuda:1", "cuda:2"));
    EXPECT_THAT(model.server.tensor_split, ElementsAre(20480.0, 10240.0));

    config::ModelConfig single;
    apply_placement(single, machine, {"local", {{"cuda:0", GiB}}, 0});
    EXPECT_EQ(single.server.env.at("CUDA_VISIBLE_DEVICES"), machine.devices[0].uuid);
    EXPECT_TRUE(single.server.tensor_split.empty());
}

// CUDA ends an index list at a UUID and a UUID list at an index (docs/gpu-h200.md): a GPU without a
// UUID puts the whole list in indices, or the server would see only the GPUs before it.
TEST(ServerDevices, AGpuWithoutUuidListsEveryGpuByIndex) {
    auto probe = cuda({8, 24, 24});
    probe.devices[2].uuid.clear();
    auto machine = describe_machine("local", {probe}, 0.0);
    config::ModelConfig model;
    apply_placement(model, machine, {"local", {{"cuda:1", 20 * GiB}, {"cuda:2", 10 * GiB}}, 0});
    EXPECT_EQ(model.server.env.at("CUDA_VISIBLE_DEVICES"), "1,2");
}

TEST(ServerDevices, ACpuPlacementHidesEveryGpuAndOffloadsNothing) {
    auto machine = describe_machine("local", {cuda({8})}, 0.0);
    config::ModelConfig model;
    model.server.gpu_layers.emplace("auto");
    apply_placement(model, machine, {"local", {}, 4 * GiB});
    EXPECT_EQ(model.server.env.at("CUDA_VISIBLE_DEVICES"), "");
    EXPECT_EQ(model.server.gpu_layers, "0");
    EXPECT_TRUE(model.server.devices.empty());

    // A machine without GPUs: nothing to hide, nothing changed.
    config::ModelConfig plain;
    apply_placement(plain, describe_machine("local", {cpu(16)}, 0.1), {"local", {}, GiB});
    EXPECT_TRUE(plain.server.env.empty());
    EXPECT_FALSE(plain.server.gpu_layers);
}

TEST(ServerDevices, TheModelsOwnEnvironmentWinsAndIsReported) {
    auto machine = describe_machine("local", {cuda({8, 8})}, 0.0);
    config::ModelConfig model;
    model.server.env["CUDA_VISIBLE_DEVICES"] = "0";
    auto notes = apply_placement(model, machine, {"local", {{"cuda:1", GiB}}, 0});
    EXPECT_EQ(model.server.env.at("CUDA_VISIBLE_DEVICES"), "0");
    ASSERT_EQ(notes.size(), 1u);
    EXPECT_THAT(notes[0], HasSubstr("CUDA_VISIBLE_DEVICES is set by the model's env"));
}

TEST(ServerDevices, VulkanDevicesAreShownByIndex) {
    sdk::ProbeReport vk;
    vk.backend = "vulkan";
    vk.available = true;
    for (int i = 0; i < 2; ++i) {
        sdk::DeviceInfo d;
        d.backend = "vulkan";
        d.index = i;
        d.type = "discrete";
        d.memory_total = 8 * GiB;
        vk.devices.push_back(d);
    }
    auto machine = describe_machine("local", {vk}, 0.0);
    config::ModelConfig model;
    apply_placement(model, machine, {"local", {{"vulkan:1", GiB}}, 0});
    EXPECT_EQ(model.server.env.at("GGML_VK_VISIBLE_DEVICES"), "1");
    EXPECT_FALSE(model.server.env.count("CUDA_VISIBLE_DEVICES"));
}

TEST(ServerDevices, TheServersLoggedBuffersBecomeTheReservation) {
    fit::ServerMemoryLog log;
    for (const char* line :
         {"load_tensors:        CUDA0 model buffer size =  1000.00 MiB", "load_tensors:        CUDA1 model buffer size =  500.00 MiB",
          "load_tensors:   CPU_Mapped model buffer size =   100.00 MiB", "llama_kv_cache:      CUDA0 KV buffer size =   200.00 MiB",
          "llama_context:      CUDA1 compute buffer size =    50.00 MiB"}) {
        log.add_line(line);
    }
    ASSERT_FALSE(log.empty());
    Reservation planned{"local", {{"cuda:1", 10 * GiB}, {"cuda:2", 10 * GiB}}, 0};
    auto measured = measured_reservation(planned, log);
    constexpr uint64_t MiB = 1ull << 20;
    EXPECT_THAT(measured.devices, ElementsAre(Pair("cuda:1", 1200 * MiB), Pair("cuda:2", 550 * MiB)));
    EXPECT_EQ(measured.ram, 100 * MiB);
    EXPECT_EQ(measured_reservation(planned, {}), planned);  // no figures: the plan stands
}

}  // namespace
}  // namespace corral::scheduler
