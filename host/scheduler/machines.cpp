#include "scheduler/machines.hpp"

#include "fit/layer_plan.hpp"

#include <algorithm>
#include <cmath>

namespace corral::scheduler {
namespace {

uint64_t less_headroom(uint64_t total, double headroom) {
    return static_cast<uint64_t>(static_cast<double>(total) * (1.0 - headroom));
}

}  // namespace

Machine describe_machine(std::string name, const std::vector<sdk::ProbeReport>& reports, double headroom,
                         std::optional<uint64_t> memory_budget) {
    Machine m;
    m.name = std::move(name);
    for (const auto& d : fit::gpus_of(reports)) {
        DeviceSlot slot;
        slot.kind = d.backend;
        slot.index = d.index;
        slot.id = d.backend + ":" + std::to_string(d.index);
        slot.name = d.name;
        slot.uuid = d.uuid;
        slot.memory_total = d.memory_total;
        slot.capacity = less_headroom(d.memory_total, headroom);
        m.devices.push_back(std::move(slot));
    }
    for (const auto& r : reports) {
        if (r.available && r.system && r.system->ram_total) m.ram_total = r.system->ram_total;
    }
    if (memory_budget) {
        m.overall_cap = *memory_budget;
        m.ram_capacity = *memory_budget;
    } else if (m.ram_total) {
        m.ram_capacity = less_headroom(m.ram_total, headroom);
    }
    return m;
}

MachineMap::MachineMap(Machine local, const std::vector<RunnerMachine>& runners, double headroom) {
    machines_.push_back(std::move(local));
    for (const auto& r : runners) {
        if (!r.remote && r.described.empty()) {
            runner_machine_[r.runner] = machines_.front().name;
            continue;
        }
        Machine m;
        if (!r.described.empty()) {
            const auto& info = r.described.front();
            m = describe_machine(info.name.empty() ? r.runner : info.name, info.reports, headroom);
            m.managed_elsewhere = info.capacity_managed_elsewhere;
        } else {
            m.name = r.runner;
        }
        if (m.name == kLocalMachine) m.name = r.runner;  // "local" is the host's own
        runner_machine_[r.runner] = m.name;
        // Two runners reaching one machine share its ledger.
        if (!find(m.name)) machines_.push_back(std::move(m));
    }
}

const Machine* MachineMap::find(std::string_view name) const {
    for (const auto& m : machines_) {
        if (m.name == name) return &m;
    }
    return nullptr;
}

const Machine& MachineMap::of_runner(std::string_view runner) const {
    static const Machine unknown{std::string(kLocalMachine), {}, 0, std::nullopt, std::nullopt, false};
    if (auto it = runner_machine_.find(runner); it != runner_machine_.end()) {
        if (const auto* m = find(it->second)) return *m;
    }
    return machines_.empty() ? unknown : machines_.front();
}

std::vector<std::string> MachineMap::runners_on(std::string_view machine) const {
    std::vector<std::string> out;
    for (const auto& [runner, name] : runner_machine_) {
        if (name == machine) out.push_back(runner);
    }
    return out;
}

sdk::DeviceInfo device_info(const DeviceSlot& slot, uint64_t reserved, double headroom) {
    sdk::DeviceInfo d;
    d.backend = slot.kind;
    d.index = slot.index;
    d.name = slot.name;
    d.uuid = slot.uuid;
    d.memory_total = slot.memory_total;
    const auto keep = static_cast<uint64_t>(std::ceil(static_cast<double>(slot.memory_total) * headroom));
    d.memory_free = std::min(slot.memory_total, reserved + keep);
    return d;
}

}  // namespace corral::scheduler
