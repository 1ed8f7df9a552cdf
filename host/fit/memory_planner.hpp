// The serve host's memory knowledge: what each configured model takes (by hand in the config, as
// measured from its server's log at the last start, or estimated from its GGUF), and the layer plan
// and --fit-target handed to the runner for gpu_layers "auto". Lives on the serve thread.
#pragma once

#include "config/config.hpp"
#include "fit/server_memory_log.hpp"

#include <corral/sdk/types.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace corral::fit {

struct ModelMemory {
    uint64_t bytes = 0;
    std::string source;                // "config", "measured", "estimate", "file size" or "unknown"
    uint64_t per_device_overhead = 0;  // what each extra GPU of a split adds (the estimate's compute buffers)
};

class MemoryPlanner {
public:
    // The fraction of each GPU kept free.
    void set_headroom(double headroom) { headroom_ = headroom; }

    // What the model needs while loaded. `fingerprint` identifies its server settings: a measurement
    // is reused only for the same settings.
    ModelMemory size(const config::ModelConfig& model, const std::string& fingerprint) const;

    // Keeps what a started server reported (ignored when the log had no buffer sizes).
    void record(const std::string& fingerprint, const ServerMemoryLog& log);

    // Fills fit_gpu_layers and fit_target_mib of a model whose gpu_layers is "auto", from the GGUF
    // and the GPUs it was placed on (their free memory: what the placement reserved there). Never
    // throws: without a readable GGUF the server decides alone.
    void prepare_launch(config::ModelConfig& model, const std::vector<sdk::DeviceInfo>& gpus) const;

private:
    double headroom_ = 0.1;
    std::map<std::string, uint64_t> measured_;  // fingerprint -> bytes
};

}  // namespace corral::fit
