// Which GPUs a CUDA program started from this environment sees, and with which index. NVML lists
// every GPU in PCI order and ignores CUDA_VISIBLE_DEVICES; llama-server (a CUDA program) honours it,
// so the probe numbers devices the way the servers will.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace corral::cuda {

struct Visibility {
    std::vector<std::size_t> order;  // positions in the NVML list, in CUDA's numbering
    std::string note;                // what was hidden or ignored, for the report ("" when nothing)
};

// `visible`: CUDA_VISIBLE_DEVICES (empty optional: unset). Entries are indices or UUIDs ("GPU-..."
// or a unique prefix of one), comma-separated; as CUDA does, the list ends at the first entry that
// is invalid, out of range or repeated. `uuids` are NVML's, in PCI order.
Visibility cuda_visible_order(const std::optional<std::string>& visible, const std::vector<std::string>& uuids);

}  // namespace corral::cuda
