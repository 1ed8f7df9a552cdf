// The machines models run on: the host's own, described by its probes and shared by every local
// runner, and those remote runners describe (ProcessRunner::machines). Turns probe reports into the
// placement core's Machine (GPUs with their capacity after memory_headroom, RAM, the overall cap).
#pragma once

#include "scheduler/placement.hpp"

#include <corral/sdk/types.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::scheduler {

inline constexpr std::string_view kLocalMachine = "local";

// `reports`: the machine's probe reports (GPUs from fit::gpus_of, RAM from the cpu report's system).
// `memory_budget` (scheduler.memory_budget, the local machine only) caps devices and RAM together and
// is the RAM budget; otherwise RAM, like each GPU, is its total less `headroom`.
Machine describe_machine(std::string name, const std::vector<sdk::ProbeReport>& reports, double headroom,
                         std::optional<uint64_t> memory_budget = std::nullopt);

// What each runner's servers run on.
struct RunnerMachine {
    std::string runner;
    bool remote = false;                      // CORRAL_CAP_REMOTE: not the host's machine
    std::vector<sdk::MachineInfo> described;  // its machines() answer; empty: it gave none
};

class MachineMap {
public:
    MachineMap() = default;
    // The local machine first, then one per remote runner: its first described machine, or (when it
    // described none) a machine named after the runner whose capacity corral does not know.
    MachineMap(Machine local, const std::vector<RunnerMachine>& runners, double headroom);

    const std::vector<Machine>& machines() const noexcept { return machines_; }
    const Machine* find(std::string_view name) const;
    // The machine a runner's servers go on: the local one for local (and unknown) runners.
    const Machine& of_runner(std::string_view runner) const;
    // The runners placing on `machine`, for status.
    std::vector<std::string> runners_on(std::string_view machine) const;

private:
    std::vector<Machine> machines_;
    std::map<std::string, std::string, std::less<>> runner_machine_;
};

// The ProbeReport-shaped description of a placed device, for layer plans (fit::plan_layers) and
// --fit-target: its total, and as "free" the bytes reserved for the model plus the headroom.
sdk::DeviceInfo device_info(const DeviceSlot& slot, uint64_t reserved, double headroom);

}  // namespace corral::scheduler
