// The memory a running llama-server really allocated, read from its log: the per-device
// "<device> model|KV|compute|output buffer size = X MiB" lines and "offloaded N/M layers to GPU".
// (llama-server prints them at log verbosity 4, which the runners ask for while the host measures:
// ServerConfig::measure_memory.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::fit {

struct DeviceBuffers {
    std::string device;  // "CPU", "CPU_Mapped", "CUDA0", "Vulkan0", ...
    uint64_t model = 0;
    uint64_t kv = 0;
    uint64_t compute = 0;
    uint64_t output = 0;
    uint64_t total() const { return model + kv + compute + output; }
};

struct ServerMemoryLog {
    std::vector<DeviceBuffers> devices;
    std::optional<int32_t> offloaded_layers;
    std::optional<int32_t> total_layers;

    // Feeds one log line; lines that say nothing about memory are ignored. Returns whether it used it.
    bool add_line(std::string_view line);

    bool empty() const { return devices.empty(); }
    uint64_t model() const;
    uint64_t kv() const;
    uint64_t compute() const;
    uint64_t total() const;

private:
    uint64_t sum(uint64_t DeviceBuffers::*field) const;
};

}  // namespace corral::fit
