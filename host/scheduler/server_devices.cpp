#include "scheduler/server_devices.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace corral::scheduler {
namespace {

const char* visibility_variable(std::string_view kind) {
    if (kind == "cuda") return "CUDA_VISIBLE_DEVICES";
    if (kind == "vulkan") return "GGML_VK_VISIBLE_DEVICES";
    return nullptr;  // metal: one device, nothing to hide
}

// "CUDA1" -> {"cuda", 1}; "CPU", "CPU_Mapped" -> {"cpu", 0}.
std::pair<std::string, int> parse_buffer_device(std::string_view name) {
    std::size_t digits = name.size();
    while (digits > 0 && std::isdigit(static_cast<unsigned char>(name[digits - 1]))) --digits;
    std::string kind;
    for (char c : name.substr(0, digits)) kind += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (kind.rfind("cpu", 0) == 0) return {"cpu", 0};
    int index = digits < name.size() ? std::stoi(std::string(name.substr(digits))) : 0;
    return {kind, index};
}

}  // namespace

std::vector<std::string> apply_placement(config::ModelConfig& model, const Machine& machine, const Reservation& reservation) {
    std::vector<std::string> notes;
    auto& server = model.server;
    auto set = [&](const std::string& variable, const std::string& value) {
        if (auto it = server.env.find(variable); it != server.env.end()) {
            if (it->second != value)
                notes.push_back(variable + " is set by the model's env to \"" + it->second + "\"; placement said \"" + value + "\"");
            return;
        }
        server.env[variable] = value;
    };
    // Per backend present on the machine: the devices of that kind the server may use (none hides all).
    std::map<std::string, std::vector<const DeviceSlot*>> visible;
    for (const auto& d : machine.devices) {
        if (visibility_variable(d.kind)) visible.emplace(d.kind, std::vector<const DeviceSlot*>{});
    }
    server.devices.clear();
    server.tensor_split.clear();
    for (const auto& [id, bytes] : reservation.devices) {
        const auto* d = machine.device(id);
        if (!d) continue;
        server.devices.push_back(id);
        if (visibility_variable(d->kind)) visible[d->kind].push_back(d);
        server.tensor_split.push_back(static_cast<double>(bytes >> 20));
    }
    if (server.tensor_split.size() < 2) server.tensor_split.clear();
    for (const auto& [kind, devices] : visible) {
        // CUDA GPUs by UUID (stable whatever the numbering), but only when each has one: the driver
        // reads a list as all indices or all UUIDs, and the other kind ends it (docs/gpu-h200.md).
        const bool by_uuid = kind == "cuda" && std::all_of(devices.begin(), devices.end(), [](const auto* d) { return !d->uuid.empty(); });
        std::string list;
        for (const auto* d : devices) list += (list.empty() ? "" : ",") + (by_uuid ? d->uuid : std::to_string(d->index));
        set(visibility_variable(kind), list);
    }
    if (!machine.devices.empty() && reservation.devices.empty() && !machine.managed_elsewhere) {
        // Off the GPUs ("cpu", or none free for a partial offload): no layer is offloaded.
        server.gpu_layers.emplace(1, '0');
        server.fit_gpu_layers.reset();
        server.fit_target_mib.clear();
    }
    return notes;
}

Reservation measured_reservation(const Reservation& planned, const fit::ServerMemoryLog& log) {
    if (log.empty()) return planned;
    Reservation out = planned;
    out.ram = 0;
    for (auto& entry : out.devices) entry.second = 0;
    for (const auto& buffers : log.devices) {
        auto [kind, index] = parse_buffer_device(buffers.device);
        if (kind == "cpu") {
            out.ram += buffers.total();
            continue;
        }
        // The server numbers its visible devices from 0, in the order of the reservation.
        if (index >= 0 && static_cast<std::size_t>(index) < out.devices.size())
            out.devices[static_cast<std::size_t>(index)].second += buffers.total();
        else
            out.ram += buffers.total();  // a device it was not placed on: count it somewhere
    }
    return out;
}

}  // namespace corral::scheduler
