// A model's "devices" setting: where its server may run on its machine.
#pragma once

#include <string>
#include <vector>

namespace corral::config {

struct DeviceRequest {
    enum class Mode {
        Auto,    // the scheduler picks the GPUs (the default)
        Cpu,     // no GPU: layers in RAM
        Pinned,  // exactly these devices
    };
    Mode mode = Mode::Auto;
    std::vector<std::string> selectors;  // Pinned: "cuda:0", "vulkan:1", a UUID or a UUID prefix

    bool operator==(const DeviceRequest&) const = default;
};

}  // namespace corral::config
