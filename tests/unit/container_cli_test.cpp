// The container runner's engine command lines and its reading of `inspect` (podman's and docker's).
#include "container_options.hpp"
#include "engine_cli.hpp"

#include <corral/sdk/error.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace corral::container {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ContainerOptions options(const boost::json::object& o) {
    return parse_runner_options(o, "runners.box");
}

RunRequest request() {
    RunRequest r;
    r.name = "corral-tiny-1";
    r.instance_id = "tiny-1";
    r.model_name = "tiny";
    r.model_host_path = "/srv/models dir/tiny:a b.gguf";
    r.endpoint = "http://127.0.0.1:4100";
    r.host_port = 4100;
    r.started_at_ms = 42;
    r.server_args = {"--model", "/models/tiny:a b.gguf", "--port", "8080"};
    return r;
}

// The value after `flag` (every occurrence).
std::vector<std::string> values_of(const std::vector<std::string>& args, const std::string& flag) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == flag) out.push_back(args[i + 1]);
    return out;
}

TEST(ContainerCli, PodmanRunPublishesOnLoopbackAndMountsTheModelReadOnly) {
    auto o = options({{"image", "ghcr.io/ggml-org/llama.cpp:server"},
                      {"engine_args", boost::json::array{"--root", "/srv/podman"}},
                      {"env", boost::json::object{{"HF_HOME", "/tmp"}}},
                      {"run_args", boost::json::array{"--memory", "8g"}}});
    auto a = run_args(o, request());
    EXPECT_THAT(std::vector<std::string>(a.begin(), a.begin() + 3), ElementsAre("--root", "/srv/podman", "run"));
    EXPECT_THAT(values_of(a, "--publish"), ElementsAre("127.0.0.1:4100:8080"));
    EXPECT_THAT(values_of(a, "--mount"),
                ElementsAre("type=bind,source=/srv/models dir/tiny:a b.gguf,target=/models/tiny:a b.gguf,readonly"));
    EXPECT_THAT(values_of(a, "--pull"), ElementsAre("never"));
    EXPECT_THAT(values_of(a, "--env"), ElementsAre("HF_HOME=/tmp"));
    EXPECT_THAT(values_of(a, "--memory"), ElementsAre("8g"));
    EXPECT_THAT(values_of(a, "--label"), ElementsAre("io.corral.endpoint=http://127.0.0.1:4100", "io.corral.instance=tiny-1",
                                                     "io.corral.model=tiny", "io.corral.prefix=corral-", "io.corral.started=42"));
    // The entrypoint is the binary; the server's arguments follow the image, verbatim.
    auto image = std::find(a.begin(), a.end(), "ghcr.io/ggml-org/llama.cpp:server");
    ASSERT_NE(image, a.end());
    EXPECT_EQ(*(image - 1), "llama-server");
    EXPECT_THAT(std::vector<std::string>(image + 1, a.end()), ElementsAre("--model", "/models/tiny:a b.gguf", "--port", "8080"));
    EXPECT_TRUE(values_of(a, "--device").empty()) << "no GPU unless asked";
}

TEST(ContainerCli, DockerHostNetworkAndGpus) {
    auto o = options({{"engine", "docker"}, {"image", "img"}, {"network", "host"}});
    auto r = request();
    r.with_gpus = true;
    auto a = run_args(o, r);
    EXPECT_THAT(values_of(a, "--network"), ElementsAre("host"));
    EXPECT_TRUE(values_of(a, "--publish").empty());
    EXPECT_THAT(values_of(a, "--gpus"), ElementsAre("all"));
    EXPECT_THAT(gpu_flags(Engine::Podman), ElementsAre("--device", "nvidia.com/gpu=all"));
}

TEST(ContainerCli, TheHostsSlotCacheDirectoryIsMountedWritableAtTheSamePath) {
    auto o = options({{"image", "img"}});
    auto r = request();
    r.slot_save_path = "/var/lib/corral/kv-cache/tiny/0123";
    auto a = run_args(o, r);
    EXPECT_THAT(values_of(a, "--mount"),
                ElementsAre("type=bind,source=/srv/models dir/tiny:a b.gguf,target=/models/tiny:a b.gguf,readonly",
                            "type=bind,source=/var/lib/corral/kv-cache/tiny/0123,target=/var/lib/corral/kv-cache/tiny/0123"));
    EXPECT_EQ(values_of(run_args(o, request()), "--mount").size(), 1u);  // none asked: none mounted
}

TEST(ContainerCli, NamesAndModelPaths) {
    EXPECT_EQ(container_name("corral-", "tiny-a-3"), "corral-tiny-a-3");
    EXPECT_EQ(container_name("corral-", "a b/$(x)"), "corral-a_b___x_");
    auto o = options({{"image", "img"}, {"model_dir", "/weights"}});
    EXPECT_EQ(model_path_inside(o, "/srv/m/q4.gguf"), "/weights/q4.gguf");
}

TEST(ContainerCli, OptionErrorsNameTheirPath) {
    auto error = [](const boost::json::object& o) {
        try {
            parse_runner_options(o, "runners.box");
        } catch (const sdk::Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_THAT(error({{"engine", "lxc"}}), HasSubstr("runners.box.engine: expected one of \"podman\", \"docker\""));
    EXPECT_THAT(error({{"pull", "sometimes"}}), HasSubstr("runners.box.pull"));
    EXPECT_THAT(error({{"model_dir", "models"}}), HasSubstr("runners.box.model_dir: expected an absolute path"));
    EXPECT_THAT(error({{"name_prefix", "-x"}}), HasSubstr("runners.box.name_prefix"));
    EXPECT_THAT(error({{"imagee", "x"}}), HasSubstr("runners.box.imagee"));
    auto base = options({{"image", "a"}});
    EXPECT_THAT([&] { parse_model_options(base, {{"engine", "docker"}}, "models.m.runner_options"); }, ::testing::Throws<sdk::Error>());
    EXPECT_EQ(parse_model_options(base, {{"image", "b"}}, "models.m.runner_options").image, "b");
}

// Trimmed from `podman container inspect` (4.3) and `docker container inspect` (20.10).
TEST(ContainerCli, ReadsPodmanAndDockerInspect) {
    auto podman = parse_inspect(R"([{"Id":"abc","Name":"corral-tiny-1","State":{"Status":"running","Running":true,"Pid":4242,
        "ExitCode":0},"Config":{"Labels":{"io.corral.instance":"tiny-1","io.corral.model":"tiny","io.corral.endpoint":
        "http://127.0.0.1:4100","io.corral.started":"42","io.corral.prefix":"corral-"}}}])");
    ASSERT_EQ(podman.size(), 1u);
    EXPECT_TRUE(podman[0].running);
    EXPECT_EQ(podman[0].pid, 4242);
    auto handle = handle_from_labels(podman[0]);
    ASSERT_TRUE(handle);
    EXPECT_EQ(handle->instance_id, "tiny-1");
    EXPECT_EQ(handle->endpoint, "http://127.0.0.1:4100");
    EXPECT_EQ(handle->started_at_ms, 42);
    EXPECT_EQ(handle->runner_data.at("container"), "corral-tiny-1");

    auto docker = parse_inspect(R"([{"Id":"def","Name":"/corral-tiny-2","State":{"Status":"exited","Running":false,"Pid":0,
        "ExitCode":137},"Config":{"Labels":{}}}])");
    ASSERT_EQ(docker.size(), 1u);
    EXPECT_EQ(docker[0].name, "corral-tiny-2");  // docker's leading '/' dropped
    EXPECT_FALSE(docker[0].running);
    EXPECT_FALSE(docker[0].pid);
    EXPECT_EQ(docker[0].exit_code, 137);
    EXPECT_FALSE(handle_from_labels(docker[0])) << "not corral's";

    EXPECT_THROW(parse_inspect("{}"), std::exception);
}

}  // namespace
}  // namespace corral::container
