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
// or a unique prefix of one), comma-separated. As the CUDA driver does (seen with driver 580, every
// case in docs/gpu-h200.md): the first entry makes it a list of indices or of UUIDs, and the list
// ends at the first entry that is invalid, out of range or of the other kind; a GPU named twice
// before that end hides every GPU (cuInit fails). `uuids` are NVML's, in PCI order.
Visibility cuda_visible_order(const std::optional<std::string>& visible, const std::vector<std::string>& uuids);

}  // namespace corral::cuda
