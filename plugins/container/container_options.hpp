// Options of the container runner (its "runners" entry). Models may override the per-run part
// (image, binary, env, extra_args, run_args, gpus, startup_timeout_ms, log_verbosity) in their
// "runner_options"; the engine is the runner's.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::container {

enum class Engine { Podman, Docker };
enum class Network {
    Publish,  // the container's own network; the server's port published on the host's loopback
    Host,     // the host's network; the server binds the host's loopback directly
};
enum class Gpus {
    Auto,  // when the engine can pass NVIDIA GPUs here: podman with a CDI spec, docker with the driver
    All,   // always pass every GPU (podman: --device nvidia.com/gpu=all; docker: --gpus all)
    None,
};

struct ContainerOptions {
    Engine engine = Engine::Podman;
    std::string engine_command;                     // the CLI to run (a path or a wrapper); default "podman" / "docker"
    std::vector<std::string> engine_args;           // global flags before every subcommand (--root, -H ...)
    std::map<std::string, std::string> engine_env;  // added to the engine CLI's environment
    std::string name_prefix = "corral-";            // container names; also the label that scopes list_running()
    std::string pull = "never";                     // never, missing or always

    std::string image;                    // required (runner or model)
    std::string binary = "llama-server";  // inside the image
    Network network = Network::Publish;
    std::string model_dir = "/models";  // where a model file is mounted (read-only) inside
    Gpus gpus = Gpus::Auto;
    std::map<std::string, std::string> env;  // the server's environment inside the container
    std::vector<std::string> extra_args;     // llama-server arguments
    std::vector<std::string> run_args;       // engine `run` flags
    std::chrono::milliseconds startup_timeout{std::chrono::minutes(10)};
    uint32_t log_lines = 5000;
    std::optional<uint32_t> log_verbosity;  // unset: 4 while the host measures memory, else the server's default

    std::string engine_name() const { return engine == Engine::Docker ? "docker" : "podman"; }
    std::string command() const { return engine_command.empty() ? engine_name() : engine_command; }
};

extern const char* const kContainerOptionsSchema;

// The runner's options ("options"). Throws sdk::JsonPathError.
ContainerOptions parse_runner_options(const boost::json::object& options, const std::string& path);

// A model's overrides ("runner_options") on top of the runner's options.
ContainerOptions parse_model_options(ContainerOptions base, const boost::json::object& options, const std::string& path);

}  // namespace corral::container
