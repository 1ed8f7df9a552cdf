// The ssh runner's description of its remote machine: the probe command run by a real /bin/sh (as the
// remote login shell runs it), with a scripted nvidia-smi, and the parsing of what it prints.
#include "process.hpp"
#include "remote_machine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corral::ssh {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr uint64_t MiB = 1ull << 20;

class RemoteMachine : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("corral-remote-machine-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // An nvidia-smi that prints `output` and exits with `code`.
    std::string fake_nvidia_smi(const std::string& output, int code = 0) {
        auto path = dir_ / "nvidia-smi";
        std::ofstream(path) << "#!/bin/sh\ncase \"$*\" in *--query-gpu=index,uuid,name,memory.total,memory.free*) ;; *) exit 9;; esac\n"
                            << "printf '%s' '" << output << "'\nexit " << code << "\n";
        ::chmod(path.c_str(), 0755);
        return path.string();
    }

    sdk::MachineInfo probe(const std::string& nvidia_smi, MachineOptions options = {}) {
        options.nvidia_smi = nvidia_smi;
        auto r = test::run_process({"/bin/sh", "-c", machine_probe_command(nvidia_smi)});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return parse_machine_probe("box2", r.out, options);
    }

    fs::path dir_;
};

const sdk::ProbeReport* report(const sdk::MachineInfo& m, const std::string& backend) {
    for (const auto& r : m.reports) {
        if (r.backend == backend) return &r;
    }
    return nullptr;
}

TEST_F(RemoteMachine, ReadsRamAndTheGpusNvidiaSmiLists) {
    auto m = probe(
        fake_nvidia_smi("0, GPU-8f3c0000-aaaa, NVIDIA H100 80GB HBM3, 81559, 80871\n1, GPU-9e4d1111-bbbb, NVIDIA L4, 23034, 22000\n"));
    EXPECT_EQ(m.name, "box2");
    EXPECT_FALSE(m.capacity_managed_elsewhere);
    const auto* cpu = report(m, "cpu");
    ASSERT_TRUE(cpu && cpu->system) << "this machine's /proc/meminfo";
    EXPECT_GT(cpu->system->ram_total, 0u);
    const auto* cuda = report(m, "cuda");
    ASSERT_TRUE(cuda);
    EXPECT_TRUE(cuda->available) << cuda->reason;
    ASSERT_EQ(cuda->devices.size(), 2u);
    EXPECT_EQ(cuda->devices[0].uuid, "GPU-8f3c0000-aaaa");
    EXPECT_EQ(cuda->devices[0].name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(cuda->devices[0].memory_total, 81559 * MiB);
    EXPECT_EQ(cuda->devices[0].memory_free, 80871 * MiB);
    EXPECT_EQ(cuda->devices[1].index, 1);
    EXPECT_EQ(cuda->devices[1].memory_total, 23034 * MiB);
}

TEST_F(RemoteMachine, WithoutNvidiaSmiItHasNoGpusAndSaysWhy) {
    auto m = probe((dir_ / "missing-nvidia-smi").string());
    const auto* cuda = report(m, "cuda");
    ASSERT_TRUE(cuda);
    EXPECT_FALSE(cuda->available);
    EXPECT_THAT(cuda->reason, HasSubstr("no " + (dir_ / "missing-nvidia-smi").string()));
    EXPECT_TRUE(report(m, "cpu")->available);

    m = probe(fake_nvidia_smi("NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.\n", 9));
    cuda = report(m, "cuda");
    EXPECT_FALSE(cuda->available);
    EXPECT_THAT(cuda->reason, HasSubstr("failed (exit 9): NVIDIA-SMI has failed"));
}

TEST_F(RemoteMachine, StatedDevicesAndRamWin) {
    MachineOptions options;
    sdk::DeviceInfo d;
    d.backend = "cuda";
    d.index = 0;
    d.uuid = "GPU-stated";
    d.memory_total = 48ull << 30;
    options.devices = {d};
    options.ram_total = 256ull << 30;
    auto m = probe(fake_nvidia_smi("0, GPU-probed, X, 1000, 1000\n"), options);
    ASSERT_EQ(report(m, "cuda")->devices.size(), 1u);
    EXPECT_EQ(report(m, "cuda")->devices[0].uuid, "GPU-stated");
    EXPECT_EQ(report(m, "cpu")->system->ram_total, 256ull << 30);

    auto stated = stated_machine("box3", options);
    EXPECT_EQ(stated.name, "box3");
    EXPECT_EQ(report(stated, "cuda")->devices[0].memory_total, 48ull << 30);
}

TEST(RemoteMachineParse, UnreadableLinesAreSkipped) {
    auto m = parse_machine_probe(
        "b", "MemTotal: 1024 kB\nMemAvailable: 512 kB\n@corral-gpus\ngarbage\n0, GPU-a, A, 100, x\n@corral-nvidia-smi 0\n", {});
    EXPECT_EQ(report(m, "cpu")->system->ram_total, 1024u * 1024);
    ASSERT_EQ(report(m, "cuda")->devices.size(), 1u);
    EXPECT_FALSE(report(m, "cuda")->devices[0].memory_free);  // "x": not known
}

}  // namespace
}  // namespace corral::ssh
