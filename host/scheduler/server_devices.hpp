// What a placement means for the server: the environment that shows it only its devices
// (CUDA_VISIBLE_DEVICES by UUID, GGML_VK_VISIBLE_DEVICES by index), the devices and tensor split
// passed to the runner, and, once it runs, the per-device buffer sizes it logged as the
// reservation's real figures.
#pragma once

#include "config/config.hpp"
#include "fit/server_memory_log.hpp"
#include "scheduler/placement.hpp"

#include <string>
#include <vector>

namespace corral::scheduler {

// Sets `model.server`'s env, devices and tensor_split (and gpu_layers "0" for a server kept off the
// GPUs) for `reservation` on `machine`. A variable the model's own "env" sets is left as the user
// wrote it; the returned notes say which (for the log).
std::vector<std::string> apply_placement(config::ModelConfig& model, const Machine& machine, const Reservation& reservation);

// The reservation with the server's logged figures: "CUDA<i>"/"Vulkan<i>"/"Metal<i>" buffers are
// the i-th visible device's, CPU buffers RAM. Unchanged when the log has no buffer sizes.
Reservation measured_reservation(const Reservation& planned, const fit::ServerMemoryLog& log);

}  // namespace corral::scheduler
