// What the ssh runner's remote machine has, for placement (ProcessRunner::machines): its RAM from
// /proc/meminfo and its NVIDIA GPUs from nvidia-smi's CSV query, read in one remote command; or the
// devices the runner's "machine" option states by hand.
#pragma once

#include <corral/sdk/types.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::ssh {

struct MachineOptions {
    bool describe = true;                   // "machine": false turns the description off
    std::string name;                       // empty: the ssh host without user@
    bool probe = true;                      // ask the remote machine (else only what is stated)
    std::string nvidia_smi = "nvidia-smi";  // remote path, or a name in the remote PATH
    std::vector<sdk::DeviceInfo> devices;   // stated by hand (then nvidia-smi is not asked)
    std::optional<uint64_t> ram_total;      // stated by hand, bytes
};

// Prints /proc/meminfo, a marker line, then nvidia-smi's CSV (index, uuid, name, memory.total,
// memory.free in MiB) when it is there; a last line says how nvidia-smi ended.
std::string machine_probe_command(const std::string& nvidia_smi);

// The machine `output` (of machine_probe_command) describes, with the stated devices and RAM taking
// precedence. Lines it cannot read are skipped; the reports' reasons say what was missing.
sdk::MachineInfo parse_machine_probe(const std::string& name, std::string_view output, const MachineOptions& options);

// The stated machine alone (probe off).
sdk::MachineInfo stated_machine(const std::string& name, const MachineOptions& options);

}  // namespace corral::ssh
