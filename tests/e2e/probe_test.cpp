// The probe plugins and `corral fit` through the corral executable: the cuda probe against a
// scripted libnvidia-ml.so.1 (tests/fixtures/nvml), the vulkan probe against Mesa's real llvmpipe
// driver, and layer plans for the fake GPUs.
#include "process.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace corral {
namespace {

using ::testing::HasSubstr;

const std::string kCorral = CORRAL_TEST_BINARY;
const std::string kPlugins = CORRAL_TEST_PLUGIN_DIR;
const std::string kFakeNvml = CORRAL_TEST_FAKE_NVML_DIR;
const std::string kModels = CORRAL_TEST_MODELS;

constexpr uint64_t kGiB = 1024ull * 1024 * 1024;

class ProbeTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("corral-probe-test-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // A config that uses only the cpu and cuda probes (Mesa's Vulkan driver leaks under LeakSanitizer;
    // the vulkan probe has its own test).
    std::string cuda_config() {
        auto path = dir_ / "config.json";
        std::ofstream(path) << R"({"plugin_dirs": [")" << kPlugins << R"("], "probes": ["cpu", "cuda"], "runners": {}, "models": {}})";
        return path.string();
    }

    // Runs corral with the fake NVML library first on the library path, answering from `script`.
    test::ProcessResult with_fake_gpus(const std::string& script, std::vector<std::string> args,
                                       std::map<std::string, std::string> env = {}) {
        std::ofstream(dir_ / "nvml.json") << script;
        env["LD_LIBRARY_PATH"] = kFakeNvml;
        env["CORRAL_FAKE_NVML"] = (dir_ / "nvml.json").string();
        env["CORRAL_FAKE_NVML_LOG"] = (dir_ / "nvml.log").string();
        args.insert(args.begin(), kCorral);
        return test::run_process(args, env);
    }

    std::vector<std::string> nvml_calls() const {
        std::ifstream in(dir_ / "nvml.log");
        std::vector<std::string> calls;
        for (std::string line; std::getline(in, line);) calls.push_back(line);
        return calls;
    }

    // The report of one backend from `corral probe --json` output.
    static boost::json::object report(const std::string& json, const std::string& backend) {
        auto parsed = boost::json::parse(json);
        for (const auto& p : parsed.at("probes").as_array()) {
            if (p.at("backend").as_string() == backend) return p.as_object();
        }
        ADD_FAILURE() << "no " << backend << " report in " << json;
        return {};
    }

    std::filesystem::path dir_;
};

// Two different GPUs in PCI order; the second cannot report utilisation.
const std::string kTwoGpus = R"({"driver": "550.54.15", "devices": [
  {"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-aaaaaaaa-1111-2222-3333-444444444444", "bus_id": "00000000:18:00.0",
   "total": 85899345920, "free": 80530636800, "used": 5368709120, "cc": [9, 0], "util": 37},
  {"name": "NVIDIA A100-SXM4-40GB", "uuid": "GPU-bbbbbbbb-1111-2222-3333-444444444444", "bus_id": "00000000:3B:00.0",
   "total": 42949672960, "free": 42949672960, "used": 0, "cc": [8, 0], "errors": {"nvmlDeviceGetUtilizationRates": 3}}]})";

TEST_F(ProbeTest, CudaReportsTheScriptedGpus) {
    auto r = with_fake_gpus(kTwoGpus, {"probe", "--json", "--config", cuda_config()}, {{"CUDA_DEVICE_ORDER", "PCI_BUS_ID"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto cuda = report(r.out, "cuda");
    EXPECT_TRUE(cuda.at("available").as_bool()) << r.out;
    EXPECT_EQ(cuda.at("reason").as_string(), "");
    const auto& devices = cuda.at("devices").as_array();
    ASSERT_EQ(devices.size(), 2u);
    const auto& h100 = devices[0].as_object();
    EXPECT_EQ(h100.at("index").as_int64(), 0);
    EXPECT_EQ(h100.at("name").as_string(), "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(h100.at("uuid").as_string(), "GPU-aaaaaaaa-1111-2222-3333-444444444444");
    EXPECT_EQ(h100.at("pci_bus_id").as_string(), "00000000:18:00.0");
    EXPECT_EQ(h100.at("driver").as_string(), "550.54.15");
    EXPECT_EQ(h100.at("compute_capability").as_string(), "9.0");
    EXPECT_EQ(h100.at("memory_total").to_number<uint64_t>(), 80 * kGiB);
    EXPECT_EQ(h100.at("memory_free").to_number<uint64_t>(), 75 * kGiB);
    EXPECT_EQ(h100.at("memory_used").to_number<uint64_t>(), 5 * kGiB);
    EXPECT_DOUBLE_EQ(h100.at("utilization").as_double(), 0.37);
    EXPECT_FALSE(h100.at("unified").as_bool());
    const auto& a100 = devices[1].as_object();
    EXPECT_EQ(a100.at("index").as_int64(), 1);
    EXPECT_EQ(a100.at("compute_capability").as_string(), "8.0");
    EXPECT_FALSE(a100.contains("utilization"));  // not supported: left out, not zero
    // Versioned entry points, and NVML shut down after use.
    auto calls = nvml_calls();
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.front(), "nvmlInit_v2");
    EXPECT_EQ(calls.back(), "nvmlShutdown");
    EXPECT_THAT(calls, ::testing::Contains("nvmlDeviceGetCount_v2"));
    EXPECT_THAT(calls, ::testing::Contains("nvmlDeviceGetHandleByIndex_v2"));
    EXPECT_THAT(calls, ::testing::Contains("nvmlDeviceGetPciInfo_v3"));

    auto text = with_fake_gpus(kTwoGpus, {"probe", "--config", cuda_config()}, {{"CUDA_DEVICE_ORDER", "PCI_BUS_ID"}});
    EXPECT_THAT(text.out,
                HasSubstr("[0] NVIDIA H100 80GB HBM3 (discrete): 80.0 GiB total, 75.0 GiB free, compute 9.0, 5.0 GiB used, 37% busy"));
    EXPECT_THAT(text.out, HasSubstr("uuid GPU-bbbbbbbb-1111-2222-3333-444444444444, pci 00000000:3B:00.0"));
}

TEST_F(ProbeTest, CudaNumbersGpusAsCudaVisibleDevicesDoes) {
    auto r = with_fake_gpus(kTwoGpus, {"probe", "--json", "--config", cuda_config()}, {{"CUDA_VISIBLE_DEVICES", "GPU-bbbbbbbb,GPU-aaaa"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto cuda = report(r.out, "cuda");
    const auto& devices = cuda.at("devices").as_array();
    ASSERT_EQ(devices.size(), 2u);
    EXPECT_EQ(devices[0].at("name").as_string(), "NVIDIA A100-SXM4-40GB");
    EXPECT_EQ(devices[0].at("index").as_int64(), 0);
    EXPECT_EQ(devices[1].at("name").as_string(), "NVIDIA H100 80GB HBM3");
    EXPECT_THAT(std::string(cuda.at("reason").as_string()), HasSubstr("CUDA_VISIBLE_DEVICES=\"GPU-bbbbbbbb,GPU-aaaa\" shows 2 of 2 GPUs"));
    // Different models, no CUDA_DEVICE_ORDER: the report warns that CUDA may order them otherwise.
    EXPECT_THAT(std::string(cuda.at("reason").as_string()), HasSubstr("CUDA_DEVICE_ORDER"));

    auto one = with_fake_gpus(kTwoGpus, {"probe", "--json", "--config", cuda_config()}, {{"CUDA_VISIBLE_DEVICES", "1"}});
    auto one_report = report(one.out, "cuda");
    const auto& only = one_report.at("devices").as_array();
    ASSERT_EQ(only.size(), 1u);
    EXPECT_EQ(only[0].at("uuid").as_string(), "GPU-bbbbbbbb-1111-2222-3333-444444444444");
    EXPECT_EQ(only[0].at("index").as_int64(), 0);
}

TEST_F(ProbeTest, CudaWithoutAUsableDriverIsUnavailableNotAnError) {
    struct Case {
        std::string script, reason;
    };
    for (const auto& c :
         {Case{R"({"init": 9})", "the NVIDIA driver is not loaded"}, Case{R"({"init": 18})", "differ in version"},
          Case{R"({"init": 0, "count_error": 999})", "cannot count GPUs"}, Case{R"({"init": 0, "devices": []})", "reports no GPU"}}) {
        auto r = with_fake_gpus(c.script, {"probe", "--json", "--config", cuda_config()});
        EXPECT_EQ(r.exit_code, 0) << c.script << ": " << r.err;  // an absent backend is reported, not a failure
        auto cuda = report(r.out, "cuda");
        ASSERT_FALSE(cuda.empty()) << r.out;
        EXPECT_FALSE(cuda.at("available").as_bool()) << c.script;
        EXPECT_THAT(std::string(cuda.at("reason").as_string()), HasSubstr(c.reason)) << c.script;
        EXPECT_TRUE(cuda.at("devices").as_array().empty());
        EXPECT_TRUE(report(r.out, "cpu").at("available").as_bool());  // the other probes still ran
    }
    // nvmlShutdown only follows a successful nvmlInit.
    std::filesystem::remove(dir_ / "nvml.log");
    with_fake_gpus(R"({"init": 9})", {"probe", "--json", "--config", cuda_config()});
    EXPECT_EQ(nvml_calls(), std::vector<std::string>{"nvmlInit_v2"});
}

TEST_F(ProbeTest, CudaSkipsAGpuThatCannotReportItsMemory) {
    auto script = R"({"driver": "550", "devices": [
      {"name": "good", "uuid": "GPU-1", "total": 1000, "free": 900, "used": 100},
      {"name": "lost", "uuid": "GPU-2", "total": 1000, "free": 900, "used": 100,
       "errors": {"nvmlDeviceGetMemoryInfo_v2": 15, "nvmlDeviceGetMemoryInfo": 15}}]})";
    auto r = with_fake_gpus(script, {"probe", "--json", "--config", cuda_config()});
    auto cuda = report(r.out, "cuda");
    EXPECT_TRUE(cuda.at("available").as_bool());
    ASSERT_EQ(cuda.at("devices").as_array().size(), 1u);
    EXPECT_THAT(std::string(cuda.at("reason").as_string()), HasSubstr("GPU 1 (lost) skipped: memory info failed: GPU is lost"));
}

// The figures of the H200 in docs/gpu-h200.md: NVML's v1 counted the driver's 615 MiB reserve in
// total and used; CUDA programs (llama-server) could allocate total - reserve. The probe reports
// what they can use, and falls back to v1 on a driver without v2.
TEST_F(ProbeTest, CudaLeavesTheDriversReserveOutOfTheTotal) {
    const uint64_t total = 150754820096, reserved = 644939776, free = 150109880320;
    auto script = [&](const std::string& errors) {
        return R"({"driver": "580.159.04", "devices": [{"name": "NVIDIA H200", "uuid": "GPU-9c3469f8", "total": )" + std::to_string(total) +
               R"(, "reserved": )" + std::to_string(reserved) + R"(, "free": )" + std::to_string(free) + R"(, "used": 0, "errors": {)" +
               errors + "}}]}";
    };
    auto r = with_fake_gpus(script(""), {"probe", "--json", "--config", cuda_config()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto cuda = report(r.out, "cuda");
    const auto& h200 = cuda.at("devices").at(0);
    EXPECT_EQ(h200.at("memory_total").to_number<uint64_t>(), total - reserved);  // = cuDeviceTotalMem there
    EXPECT_EQ(h200.at("memory_free").to_number<uint64_t>(), free);
    EXPECT_EQ(h200.at("memory_used").to_number<uint64_t>(), 0u);
    EXPECT_THAT(nvml_calls(), ::testing::Contains("nvmlDeviceGetMemoryInfo_v2"));
    EXPECT_THAT(nvml_calls(), ::testing::Not(::testing::Contains("nvmlDeviceGetMemoryInfo")));

    // A driver without nvmlDeviceGetMemoryInfo_v2 (before R510) answers "not supported": v1's figures.
    std::filesystem::remove(dir_ / "nvml.log");
    auto old = with_fake_gpus(script(R"("nvmlDeviceGetMemoryInfo_v2": 3)"), {"probe", "--json", "--config", cuda_config()});
    ASSERT_EQ(old.exit_code, 0) << old.err;
    const auto old_cuda = report(old.out, "cuda");
    const auto& v1 = old_cuda.at("devices").at(0);
    EXPECT_EQ(v1.at("memory_total").to_number<uint64_t>(), total);
    EXPECT_EQ(v1.at("memory_used").to_number<uint64_t>(), reserved);
    EXPECT_THAT(nvml_calls(), ::testing::Contains("nvmlDeviceGetMemoryInfo"));

    // fit (and serve, through the same machine description) plans from the same figure.
    auto fit = with_fake_gpus(script(""), {"fit", kModels + "/tiny-a.gguf", "--json", "--config", cuda_config()});
    ASSERT_EQ(fit.exit_code, 0) << fit.err;
    const auto json = boost::json::parse(fit.out);
    const auto& gpu = json.at("gpus").at(0);
    EXPECT_EQ(gpu.at("memory_total").to_number<uint64_t>(), total - reserved);
    // The GPU as probed (its free memory, not the plan's share of it), what serve may reserve on it
    // (the default headroom of 10 % off) and what the placement puts there: the whole model.
    EXPECT_EQ(gpu.at("memory_free").to_number<uint64_t>(), free);
    EXPECT_EQ(gpu.at("capacity").to_number<uint64_t>(), static_cast<uint64_t>(static_cast<double>(total - reserved) * (1.0 - 0.1)));
    EXPECT_EQ(gpu.at("placed").to_number<uint64_t>(), json.at("estimate").at("total").to_number<uint64_t>());
    EXPECT_EQ(json.at("placement").at("memory_by_device").at("cuda:0"), gpu.at("placed"));
}

TEST_F(ProbeTest, CudaWithoutTheLibraryIsUnavailable) {
    if (void* real = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL)) {
        ::dlclose(real);
        GTEST_SKIP() << "this machine has an NVIDIA driver";
    }
    auto r = test::run_process({kCorral, "probe", "--json", "--config", cuda_config()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto cuda = report(r.out, "cuda");
    EXPECT_FALSE(cuda.at("available").as_bool());
    EXPECT_THAT(std::string(cuda.at("reason").as_string()), HasSubstr("cannot load libnvidia-ml.so.1"));
}

TEST_F(ProbeTest, VulkanReportsLlvmpipeWithItsHeap) {
    auto r = test::run_process({kCorral, "probe", "--json", "--plugin-dir", kPlugins}, test::kVulkanDriverLeaksAllowed);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto vulkan = report(r.out, "vulkan");
    ASSERT_TRUE(vulkan.at("available").as_bool()) << vulkan.at("reason").as_string() << " (install mesa-vulkan-drivers)";
    const boost::json::object* llvmpipe = nullptr;
    for (const auto& d : vulkan.at("devices").as_array()) {
        if (std::string(d.at("name").as_string()).find("llvmpipe") != std::string::npos) llvmpipe = &d.as_object();
    }
    ASSERT_NE(llvmpipe, nullptr) << r.out;
    EXPECT_EQ(llvmpipe->at("type").as_string(), "cpu");
    EXPECT_TRUE(llvmpipe->at("unified").as_bool());
    EXPECT_GT(llvmpipe->at("memory_total").to_number<uint64_t>(), 0u);  // its heap
    EXPECT_EQ(llvmpipe->at("uuid").as_string().size(), 36u);
    EXPECT_FALSE(llvmpipe->contains("memory_free"));  // llvmpipe lacks VK_EXT_memory_budget
    auto text = test::run_process({kCorral, "probe", "--plugin-dir", kPlugins}, test::kVulkanDriverLeaksAllowed);
    EXPECT_THAT(text.out, HasSubstr("vulkan: available"));
    EXPECT_THAT(text.out, HasSubstr("llvmpipe"));
}

TEST_F(ProbeTest, FitPlansLayersForTheGpusTheProbesReport) {
    // One small fake GPU: 3 MiB free and no headroom fits the compute buffers, the output layer and
    // one of the tiny model's two layers (sizes from `corral fit --json`, checked below).
    auto script = R"({"driver": "550", "devices": [{"name": "tiny GPU", "uuid": "GPU-1", "total": 3145728, "free": 3145728, "used": 0}]})";
    auto r = with_fake_gpus(script, {"fit", kModels + "/tiny-a.gguf", "--json", "--headroom", "0", "--config", cuda_config()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto fit = boost::json::parse(r.out);
    const auto& e = fit.at("estimate");
    const auto& plan = fit.at("plan");
    auto n = [](const boost::json::value& v) { return v.to_number<uint64_t>(); };
    uint64_t last_layer = n(e.at("layer_weights").at(1)) + n(e.at("layer_kv").at(1));
    uint64_t gpu = n(e.at("compute")) + n(e.at("output_weights")) + last_layer;
    ASSERT_LE(gpu, 3145728u);
    ASSERT_GT(gpu + last_layer, 3145728u);
    EXPECT_EQ(plan.at("gpu_layers").as_int64(), 2);
    EXPECT_EQ(plan.at("max_layers").as_int64(), 3);
    EXPECT_EQ(n(plan.at("gpu_bytes")), gpu);
    EXPECT_EQ(n(plan.at("gpu_bytes")) + n(plan.at("host_bytes")), n(e.at("total")));
    EXPECT_EQ(fit.at("gpus").as_array().size(), 1u);

    // With room to spare everything goes; without probes nothing does.
    auto big = R"({"driver": "550", "devices": [{"name": "big GPU", "uuid": "GPU-1", "total": 85899345920, "free": 85899345920}]})";
    auto all = with_fake_gpus(big, {"fit", kModels + "/tiny-a.gguf", "--config", cuda_config()});
    EXPECT_THAT(all.out, HasSubstr("plan: -ngl 3 of 3 (the whole model on the GPUs)"));
    auto none = test::run_process({kCorral, "fit", kModels + "/tiny-a.gguf", "--no-probe"});
    EXPECT_THAT(none.out, HasSubstr("GPUs: none found"));
}

TEST_F(ProbeTest, FitPlacesTheModelOnTheGpuServeWouldGiveIt) {
    auto two = R"({"driver": "550", "devices": [{"name": "small GPU", "uuid": "GPU-s", "total": 1073741824, "free": 1073741824},
                                                {"name": "big GPU", "uuid": "GPU-b", "total": 85899345920, "free": 85899345920}]})";
    auto placement = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = {"fit", kModels + "/tiny-a.gguf", "--json", "--config", cuda_config()};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = with_fake_gpus(two, args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return boost::json::parse(r.out).at("placement").as_object();
    };
    // Best fit: the small GPU holds the tiny model, the big one stays free.
    auto best = placement({});
    EXPECT_EQ(best.at("memory_by_device").as_object().size(), 1u) << best;
    EXPECT_TRUE(best.at("memory_by_device").as_object().contains("cuda:0")) << best;
    auto pinned = placement({"--devices", "GPU-b"});
    EXPECT_TRUE(pinned.at("memory_by_device").as_object().contains("cuda:1")) << pinned;
    auto cpu = placement({"--devices", "cpu"});
    EXPECT_TRUE(cpu.at("memory_by_device").as_object().empty());
    EXPECT_GT(cpu.at("ram").to_number<uint64_t>(), 0u);

    auto text = with_fake_gpus(two, {"fit", kModels + "/tiny-a.gguf", "--config", cuda_config()});
    EXPECT_THAT(text.out, HasSubstr("placement (local, nothing else loaded): on cuda:0"));
    EXPECT_THAT(text.out, HasSubstr("  cuda:0 small GPU: 3.5 MiB of 921.6 MiB"));
    auto nowhere = with_fake_gpus(two, {"fit", kModels + "/tiny-a.gguf", "--devices", "cuda:9", "--config", cuda_config()});
    EXPECT_EQ(nowhere.exit_code, 2);
    EXPECT_THAT(nowhere.out, HasSubstr("\"cuda:9\" is no device of machine local"));
}

TEST_F(ProbeTest, FitErrors) {
    std::ofstream(dir_ / "not.gguf") << "GGML nonsense";
    auto bad = test::run_process({kCorral, "fit", (dir_ / "not.gguf").string(), "--no-probe"});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_THAT(bad.err, HasSubstr("not a GGUF file"));
    auto missing = test::run_process({kCorral, "fit", (dir_ / "missing.gguf").string(), "--no-probe"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_THAT(missing.err, HasSubstr("missing.gguf"));
    auto cache = test::run_process({kCorral, "fit", kModels + "/tiny-a.gguf", "--no-probe", "--cache-type", "q9"});
    EXPECT_EQ(cache.exit_code, 2);
    EXPECT_THAT(cache.err, HasSubstr("unknown KV cache type \"q9\""));
    auto ctx = test::run_process({kCorral, "fit", kModels + "/tiny-a.gguf", "--no-probe", "--ctx", "lots"});
    EXPECT_EQ(ctx.exit_code, 2);
}

}  // namespace
}  // namespace corral
