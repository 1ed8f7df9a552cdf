// Where each running server was placed (machine, bytes per device, RAM), kept in the state
// directory so a corral that restarts and adopts the servers it left knows which GPUs they hold:
// <state_dir>/placements/<instance id>.json, written when a server starts, removed when it stops.
#pragma once

#include "scheduler/placement.hpp"

#include <filesystem>
#include <optional>
#include <set>
#include <string>

namespace corral::state {

class PlacementRecords {
public:
    explicit PlacementRecords(std::filesystem::path state_dir);

    // Failures are logged, never thrown: a record only improves a later adoption.
    void save(const std::string& instance_id, const scheduler::Reservation& reservation) const;
    std::optional<scheduler::Reservation> load(const std::string& instance_id) const;
    void forget(const std::string& instance_id) const;
    // Removes the records of every instance but `keep` (after adoption: the others are gone).
    void prune(const std::set<std::string>& keep) const;

private:
    std::filesystem::path dir_;
};

}  // namespace corral::state
