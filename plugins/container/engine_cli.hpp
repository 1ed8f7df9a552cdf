// The engine's command lines (podman and docker share them) and the JSON it answers with. Pure, so
// the mapping is unit-tested without an engine.
#pragma once

#include "container_options.hpp"

#include <corral/sdk/types.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::container {

// Labels every container this runner starts carries: list_running() and adopt() read them back.
inline constexpr const char* kLabelPrefix = "io.corral.prefix";
inline constexpr const char* kLabelInstance = "io.corral.instance";
inline constexpr const char* kLabelModel = "io.corral.model";
inline constexpr const char* kLabelEndpoint = "io.corral.endpoint";
inline constexpr const char* kLabelStarted = "io.corral.started";

// The port llama-server listens on inside its own network namespace (network "publish").
inline constexpr uint16_t kContainerPort = 8080;

// A container name for an instance id: the prefix, then the id with anything a name cannot hold as '_'.
std::string container_name(const std::string& prefix, const std::string& instance_id);

struct RunRequest {
    std::string name;
    std::string instance_id;
    std::string model_name;
    std::string model_host_path;  // mounted read-only at model_path_inside()
    std::string endpoint;         // what the host connects to
    uint16_t host_port = 0;
    int64_t started_at_ms = 0;
    std::vector<std::string> server_args;  // llama-server's arguments (after the binary)
    bool with_gpus = false;
    // The model's environment: passed as `--env NAME` with the value in the engine CLI's own
    // environment, so values (the server's key) never appear on a command line.
    std::vector<std::string> server_env_names;
    // The host's directory for the server's slot caches (ServerConfig::slot_save_path): mounted
    // read-write at the same path, so the server saves where the host reads. Empty: none.
    std::string slot_save_path;
};

// Where a model file appears inside the container.
std::string model_path_inside(const ContainerOptions& o, const std::string& host_path);

// Arguments after the engine command for each subcommand (the global engine_args first).
std::vector<std::string> run_args(const ContainerOptions& o, const RunRequest& r);
std::vector<std::string> engine_args(const ContainerOptions& o, std::vector<std::string> subcommand);

// The flags that pass NVIDIA GPUs with this engine.
std::vector<std::string> gpu_flags(Engine engine);

// One container as `inspect` describes it (podman and docker agree on these members).
struct ContainerState {
    std::string id;
    std::string name;
    bool running = false;
    std::optional<int> exit_code;
    std::optional<int64_t> pid;  // on the host, while running
    std::map<std::string, std::string> labels;
};

// Parses `inspect`'s JSON array. Throws std::runtime_error for anything else.
std::vector<ContainerState> parse_inspect(const std::string& json);

// The handle a container's labels describe; nullopt when they are not corral's.
std::optional<sdk::ProcessHandle> handle_from_labels(const ContainerState& state);

}  // namespace corral::container
