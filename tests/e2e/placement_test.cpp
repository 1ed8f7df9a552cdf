// Placement on a box with GPUs of 8, 24 and 24 GiB (the scripted fake NVML under the real cuda probe),
// with the real llama-server: which GPU each model gets, what its server sees (/proc/PID/environ
// and cmdline), and that making room evicts only on the GPU a newcomer needs.
#include "http_client.hpp"
#include "process.hpp"
#include "serve_harness.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace corral::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr uint64_t kGiB = 1ull << 30;
const std::string kUuid[] = {"GPU-00000000-8888-0000-0000-000000000000", "GPU-11111111-2424-0000-0000-000000000000",
                             "GPU-22222222-2424-0000-0000-000000000000"};

std::string nvml_script() {
    json::array devices;
    const uint64_t gib[] = {8, 24, 24};
    for (int i = 0; i < 3; ++i) {
        devices.push_back(json::object{{"name", "Fake GPU " + std::to_string(gib[i]) + " GiB"},
                                       {"uuid", kUuid[i]},
                                       {"bus_id", "00000000:0" + std::to_string(i + 1) + ":00.0"},
                                       {"total", gib[i] * kGiB},
                                       {"free", gib[i] * kGiB},
                                       {"used", 0},
                                       {"cc", json::array{8, 9}}});
    }
    return json::serialize(json::object{{"driver", "550.54.15"}, {"devices", devices}});
}

class Placement : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ =
            fs::path(CORRAL_TEST_WORK_DIR) / ("placement-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        std::ofstream(dir_ / "nvml.json") << nvml_script();
    }

    // corral serve on the fake GPUs, with `models` (JSON members) all served by the tiny model;
    // `runners` adds runner entries.
    std::unique_ptr<Corral> serve(const std::string& models, const std::string& runners = "") {
        const std::string config = R"({"listen": "127.0.0.1:0", "plugin_dirs": [")" + std::string(CORRAL_TEST_PLUGIN_DIR) +
                                   R"("], "probes": ["cpu", "cuda"], "state_dir": ")" + (dir_ / "state").string() +
                                   R"(", "runners": {"local": {"plugin": "llama_server", "binary": ")" +
                                   std::string(CORRAL_TEST_LLAMA_SERVER) + R"("})" + runners +
                                   R"(}, "scheduler": {"memory_headroom": 0}, "models": {)" + models + "}}";
        return std::make_unique<Corral>(
            dir_, config,
            std::vector<std::string>{"/usr/bin/env", "LD_LIBRARY_PATH=" + std::string(CORRAL_TEST_FAKE_NVML_DIR),
                                     "CORRAL_FAKE_NVML=" + (dir_ / "nvml.json").string(), "CUDA_DEVICE_ORDER=PCI_BUS_ID"});
    }

    static std::string model(const std::string& name, const std::string& memory, const std::string& extra = "") {
        return "\"" + name + R"(": {"path": ")" + std::string(CORRAL_TEST_MODELS) +
               R"(/tiny-a.gguf", "ctx_size": 512, "runner": "local", "memory": ")" + memory + "\"" + extra + "}";
    }

    static void load(Corral& corral, const std::string& name) {
        auto r = corral.post("/corral/models/" + name + "/load");
        ASSERT_EQ(r.status, 200) << name << ": " << r.body;
    }

    // The model's placement: its devices, and the bytes on each.
    static std::map<std::string, uint64_t> devices_of(Corral& corral, const std::string& name) {
        std::map<std::string, uint64_t> out;
        auto m = corral.model(name);
        if (!m.contains("placement")) return out;
        for (const auto& [id, bytes] : m.at("placement").at("memory_by_device").as_object()) out[id] = bytes.to_number<uint64_t>();
        return out;
    }

    // Reserved bytes per device of the local machine, from /corral/status.
    static std::map<std::string, uint64_t> ledger(Corral& corral) {
        std::map<std::string, uint64_t> out;
        auto status = json::parse(corral.get("/corral/status").body);
        const auto& local = status.at("machines").at(0).as_object();
        EXPECT_EQ(local.at("name"), "local");
        for (const auto& d : local.at("devices").as_array()) {
            out[std::string(d.at("id").as_string())] = d.at("memory_reserved").to_number<uint64_t>();
        }
        return out;
    }

    fs::path dir_;
};

TEST_F(Placement, ModelsGetTheirOwnGpusAndANewcomerEvictsOnlyOnTheGpuItNeeds) {
    auto corral = serve(model("a", "20GiB") + "," + model("b", "20GiB") + "," + model("small", "6GiB") + "," + model("c", "20GiB"));
    auto status = json::parse(corral->get("/corral/status").body);
    const auto& devices = status.at("machines").at(0).at("devices").as_array();
    ASSERT_EQ(devices.size(), 3u) << status;
    EXPECT_EQ(devices[1].at("uuid"), kUuid[1].c_str());
    EXPECT_EQ(devices[1].at("memory_total").to_number<uint64_t>(), 24 * kGiB);

    // Two 20 GiB models on two 24 GiB GPUs: loaded together, each server sees only its GPU.
    load(*corral, "a");
    load(*corral, "b");
    EXPECT_EQ(devices_of(*corral, "a"), (std::map<std::string, uint64_t>{{"cuda:1", 20 * kGiB}}));
    EXPECT_EQ(devices_of(*corral, "b"), (std::map<std::string, uint64_t>{{"cuda:2", 20 * kGiB}}));
    const auto pid_a = corral->pid("a"), pid_b = corral->pid("b");
    EXPECT_EQ(environ_of(pid_a, "CUDA_VISIBLE_DEVICES"), kUuid[1]);
    EXPECT_EQ(environ_of(pid_b, "CUDA_VISIBLE_DEVICES"), kUuid[2]);
    EXPECT_FALSE(argument_after(pid_a, "--tensor-split"));

    // The small one fits the 8 GiB GPU: nothing moves.
    load(*corral, "small");
    EXPECT_EQ(devices_of(*corral, "small"), (std::map<std::string, uint64_t>{{"cuda:0", 6 * kGiB}}));
    EXPECT_EQ(environ_of(corral->pid("small"), "CUDA_VISIBLE_DEVICES"), kUuid[0]);
    EXPECT_EQ(ledger(*corral), (std::map<std::string, uint64_t>{{"cuda:0", 6 * kGiB}, {"cuda:1", 20 * kGiB}, {"cuda:2", 20 * kGiB}}));

    // corral ps: each model's machine and devices, then the ledger per device.
    auto ps = run_process({CORRAL_TEST_BINARY, "ps", "--url", "http://127.0.0.1:" + std::to_string(corral->port)});
    ASSERT_EQ(ps.exit_code, 0) << ps.err;
    auto line_of = [&](const std::string& start) {
        for (std::size_t at = 0; at < ps.out.size();) {
            auto end = ps.out.find('\n', at);
            auto line = ps.out.substr(at, end - at);
            if (line.rfind(start, 0) == 0) return line;
            at = end == std::string::npos ? ps.out.size() : end + 1;
        }
        return std::string();
    };
    EXPECT_NE(line_of("small ").find("local    cuda:0"), std::string::npos) << ps.out;
    auto gpu1 = line_of("local    cuda:1");
    EXPECT_NE(gpu1.find("Fake GPU 24 GiB"), std::string::npos) << ps.out;
    EXPECT_NE(gpu1.find("20.0 GiB  24.0 GiB"), std::string::npos) << ps.out;

    // b was used last; c needs a 24 GiB GPU: a (the least recently used there) goes, the rest stay.
    ASSERT_EQ(corral->post("/v1/completions", R"({"model":"b","prompt":"x","max_tokens":1})").status, 200);
    load(*corral, "c");
    EXPECT_EQ(devices_of(*corral, "c"), (std::map<std::string, uint64_t>{{"cuda:1", 20 * kGiB}}));
    EXPECT_EQ(corral->state("a"), "unloaded");
    EXPECT_EQ(corral->pid("b"), pid_b);
    EXPECT_EQ(corral->state("small"), "ready");
    EXPECT_EQ(environ_of(corral->pid("c"), "CUDA_VISIBLE_DEVICES"), kUuid[1]);

    auto metrics = corral->get("/metrics").body;
    EXPECT_NE(metrics.find("corral_device_memory_reserved_bytes{machine=\"local\",device=\"cuda:1\"} " + std::to_string(20 * kGiB)),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("corral_device_memory_capacity_bytes{machine=\"local\",device=\"cuda:0\"} " + std::to_string(8 * kGiB)),
              std::string::npos);
}

TEST_F(Placement, SplitsPinsAndCpuModels) {
    auto corral = serve(model("big", "40GiB") + "," + model("pinned", "6GiB", R"(, "devices": ["GPU-2222"])") + "," +
                        model("cpu", "1GiB", R"(, "devices": "cpu", "gpu_layers": "auto")") + "," +
                        model("nowhere", "1GiB", R"(, "devices": ["cuda:7"])"));

    // Too big for any one GPU: split over the two 24 GiB ones, in proportion to their free memory.
    load(*corral, "big");
    EXPECT_EQ(devices_of(*corral, "big"), (std::map<std::string, uint64_t>{{"cuda:1", 20 * kGiB}, {"cuda:2", 20 * kGiB}}));
    const auto pid_big = corral->pid("big");
    EXPECT_EQ(environ_of(pid_big, "CUDA_VISIBLE_DEVICES"), kUuid[1] + "," + kUuid[2]);
    EXPECT_EQ(argument_after(pid_big, "--tensor-split"), "20480,20480");

    // Pinned (by UUID prefix) to the third GPU, which big fills: only big goes, though cuda:0 has room.
    load(*corral, "pinned");
    EXPECT_EQ(devices_of(*corral, "pinned"), (std::map<std::string, uint64_t>{{"cuda:2", 6 * kGiB}}));
    EXPECT_EQ(corral->state("big"), "unloaded");
    EXPECT_EQ(environ_of(corral->pid("pinned"), "CUDA_VISIBLE_DEVICES"), kUuid[2]);

    // "cpu": no GPU visible, no layer offloaded, RAM in the ledger.
    load(*corral, "cpu");
    auto cpu = corral->model("cpu");
    EXPECT_TRUE(cpu.at("placement").at("devices").as_array().empty());
    EXPECT_EQ(cpu.at("placement").at("ram").to_number<uint64_t>(), 1 * kGiB);
    EXPECT_EQ(environ_of(corral->pid("cpu"), "CUDA_VISIBLE_DEVICES"), "");
    EXPECT_EQ(argument_after(corral->pid("cpu"), "--n-gpu-layers"), "0");
    auto status = json::parse(corral->get("/corral/status").body);
    EXPECT_EQ(status.at("machines").at(0).at("ram_reserved").to_number<uint64_t>(), 1 * kGiB);

    // A pin that names no GPU of the machine: the load fails and says what the machine has.
    auto r = corral->post("/corral/models/nowhere/load");
    EXPECT_EQ(r.status, 502);
    EXPECT_NE(r.body.find("\\\"cuda:7\\\" is no device of machine local"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(kUuid[0]), std::string::npos) << r.body;
    auto chat = corral->post("/v1/completions", R"({"model":"nowhere","prompt":"x","max_tokens":1})");
    EXPECT_EQ(chat.status, 503);
    EXPECT_NE(chat.body.find("model_unplaceable"), std::string::npos) << chat.body;
}

// A corral that crashes leaves its servers running; the next one adopts them where they really are:
// each server's placement is recorded in the state directory, not guessed again.
TEST_F(Placement, AnAdoptedServerKeepsTheGpusItWasPlacedOn) {
    auto corral = serve(model("a", "20GiB") + "," + model("b", "20GiB"));
    load(*corral, "a");
    load(*corral, "b");
    ASSERT_EQ(devices_of(*corral, "b"), (std::map<std::string, uint64_t>{{"cuda:2", 20 * kGiB}}));
    ASSERT_EQ(corral->post("/corral/models/a/unload").status, 200);
    const auto pid_b = corral->pid("b");
    corral->stop(SIGKILL);

    // A guess would put b on cuda:1 (the first free 24 GiB GPU); the record says cuda:2.
    corral->start();
    load(*corral, "b");  // waits for the adoption to finish
    EXPECT_EQ(corral->pid("b"), pid_b);
    EXPECT_TRUE(corral->model("b").at("adopted").as_bool());
    EXPECT_EQ(devices_of(*corral, "b"), (std::map<std::string, uint64_t>{{"cuda:2", 20 * kGiB}}));
    EXPECT_EQ(ledger(*corral), (std::map<std::string, uint64_t>{{"cuda:0", 0}, {"cuda:1", 0}, {"cuda:2", 20 * kGiB}}));
    // And a newcomer goes beside it, not onto it.
    load(*corral, "a");
    EXPECT_EQ(devices_of(*corral, "a"), (std::map<std::string, uint64_t>{{"cuda:1", 20 * kGiB}}));
    EXPECT_EQ(corral->pid("b"), pid_b);
}

// Machines the runners describe (the mock runner pretends, through the same ABI 1.1 call the ssh
// runner answers): a remote box with its own GPU, and a cluster whose capacity is managed there.
TEST_F(Placement, MachinesDescribedByRunnersKeepTheirOwnLedgers) {
    const std::string runners = R"(,
    "box9": {"plugin": "mock", "machine": {"name": "box9", "reports": [
      {"backend": "cuda", "available": true, "devices": [{"backend": "cuda", "index": 0, "name": "Box GPU", "uuid": "GPU-box9", "type": "discrete", "memory_total": 25769803776}]},
      {"backend": "cpu", "available": true, "system": {"ram_total": 68719476736}}]}},
    "cluster": {"plugin": "mock", "machine": {"name": "cluster", "capacity_managed_elsewhere": true}})";
    auto corral = serve(model("a", "20GiB") + R"(, "r": {"path": "/dev/null", "runner": "box9", "memory": "20GiB"},
                        "huge": {"path": "/dev/null", "runner": "cluster", "memory": "5000GiB"})",
                        runners);
    load(*corral, "a");
    load(*corral, "r");
    load(*corral, "huge");
    EXPECT_EQ(corral->state("a"), "ready");
    EXPECT_EQ(corral->state("r"), "ready");
    EXPECT_EQ(devices_of(*corral, "r"), (std::map<std::string, uint64_t>{{"cuda:0", 20 * kGiB}}));
    EXPECT_EQ(corral->model("r").at("placement").at("machine"), "box9");
    EXPECT_EQ(corral->model("huge").at("placement").at("machine"), "cluster");
    EXPECT_TRUE(devices_of(*corral, "huge").empty());
    EXPECT_EQ(ledger(*corral), (std::map<std::string, uint64_t>{{"cuda:0", 0}, {"cuda:1", 20 * kGiB}, {"cuda:2", 0}}));

    auto status = json::parse(corral->get("/corral/status").body);
    const auto& machines = status.at("machines").as_array();
    ASSERT_EQ(machines.size(), 3u) << status;
    EXPECT_EQ(machines[1].at("name"), "box9");
    EXPECT_EQ(machines[1].at("runner"), "box9");
    EXPECT_EQ(machines[1].at("devices").at(0).at("memory_reserved").to_number<uint64_t>(), 20 * kGiB);
    EXPECT_EQ(machines[2].at("name"), "cluster");
    EXPECT_TRUE(machines[2].at("capacity_managed_elsewhere").as_bool());
    EXPECT_EQ(machines[2].at("memory_reserved").to_number<uint64_t>(), 0u);

    auto ps = run_process({CORRAL_TEST_BINARY, "ps", "--url", "http://127.0.0.1:" + std::to_string(corral->port)});
    EXPECT_NE(ps.out.find("cluster  -       capacity managed elsewhere"), std::string::npos) << ps.out;
    EXPECT_NE(ps.out.find("box9     cuda:0  Box GPU"), std::string::npos) << ps.out;
}

}  // namespace
}  // namespace corral::test
