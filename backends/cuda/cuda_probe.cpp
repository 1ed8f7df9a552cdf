// The cuda probe plugin: NVIDIA GPUs through NVML (libnvidia-ml.so.1, loaded at run time): name,
// UUID, PCI bus id, driver, compute capability, memory total/free/used and utilisation, numbered as
// CUDA programs started from this environment will number them (CUDA_VISIBLE_DEVICES).
#include "cuda_visible_devices.hpp"
#include "nvml_library.hpp"

#include <corral/sdk/sdk.hpp>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

using corral::cuda::NvmlLibrary;
namespace nvml = corral::cuda::nvml;

std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
}

// A string NVML wrote into a buffer (bounded even if it forgot the terminator).
template <std::size_t N>
std::string text(const char (&buffer)[N]) {
    return std::string(buffer, strnlen(buffer, N));
}

void add_note(std::string& notes, const std::string& note) {
    if (note.empty()) return;
    if (!notes.empty()) notes += "; ";
    notes += note;
}

class CudaProbe final : public corral::sdk::SystemProbe {
public:
    CudaProbe(corral::sdk::Host host, const boost::json::object& options) : host_(host) {
        if (!options.empty()) throw corral::sdk::JsonPathError(std::string(options.begin()->key()), "the cuda probe takes no options");
    }

    corral::sdk::ProbeReport probe() override {
        corral::sdk::ProbeReport report;
        report.backend = "cuda";
        try {
            NvmlLibrary lib;
            probe_devices(lib, report);
        } catch (const corral::cuda::NvmlUnavailable& e) {
            report.available = false;
            report.reason = e.what();
            report.devices.clear();
        }
        return report;
    }

private:
    struct Gpu {
        nvml::Device handle = nullptr;
        std::string uuid;
    };

    void probe_devices(NvmlLibrary& lib, corral::sdk::ProbeReport& report) {
        char driver[nvml::kDriverVersionBufferSize] = {};
        std::string driver_version;
        if (lib.system_get_driver_version(driver, sizeof driver) == nvml::kSuccess) driver_version = text(driver);

        unsigned int count = 0;
        if (auto r = lib.device_get_count(&count); r != nvml::kSuccess) {
            throw corral::cuda::NvmlUnavailable("cannot count GPUs (nvmlDeviceGetCount: " + lib.error_string(r) + ")");
        }
        std::vector<Gpu> gpus;
        std::vector<std::string> uuids;
        for (unsigned int i = 0; i < count; ++i) {
            Gpu gpu;
            if (auto r = lib.device_get_handle_by_index(i, &gpu.handle); r != nvml::kSuccess) {
                add_note(report.reason, "GPU " + std::to_string(i) + " skipped: " + lib.error_string(r));
                gpu.handle = nullptr;
            } else {
                char uuid[nvml::kUuidBufferSize] = {};
                if (lib.device_get_uuid(gpu.handle, uuid, sizeof uuid) == nvml::kSuccess) gpu.uuid = text(uuid);
            }
            uuids.push_back(gpu.uuid);
            gpus.push_back(gpu);
        }

        auto visibility = corral::cuda::cuda_visible_order(env("CUDA_VISIBLE_DEVICES"), uuids);
        add_note(report.reason, visibility.note);
        for (std::size_t cuda_index = 0; cuda_index < visibility.order.size(); ++cuda_index) {
            const auto position = visibility.order[cuda_index];
            const auto& gpu = gpus[position];
            if (!gpu.handle) continue;
            corral::sdk::DeviceInfo d;
            d.backend = "cuda";
            d.index = static_cast<int32_t>(cuda_index);
            d.type = "discrete";
            d.uuid = gpu.uuid;
            d.driver = driver_version;
            char name[nvml::kDeviceNameBufferSize] = {};
            if (lib.device_get_name(gpu.handle, name, sizeof name) == nvml::kSuccess) d.name = text(name);
            nvml::PciInfo pci{};
            if (lib.device_get_pci_info(gpu.handle, &pci) == nvml::kSuccess) d.pci_bus_id = text(pci.busId);
            if (auto r = read_memory(lib, gpu.handle, d); r != nvml::kSuccess) {
                // Without its memory figures a GPU cannot be planned for: leave it out, say why.
                add_note(report.reason,
                         "GPU " + std::to_string(position) + " (" + d.name + ") skipped: memory info failed: " + lib.error_string(r));
                continue;
            }
            int major = 0, minor = 0;
            if (lib.device_get_cuda_compute_capability &&
                lib.device_get_cuda_compute_capability(gpu.handle, &major, &minor) == nvml::kSuccess) {
                d.compute_capability = std::to_string(major) + "." + std::to_string(minor);
            }
            nvml::Utilization utilization{};
            if (lib.device_get_utilization_rates && lib.device_get_utilization_rates(gpu.handle, &utilization) == nvml::kSuccess) {
                d.utilization = utilization.gpu / 100.0;
            }
            report.devices.push_back(std::move(d));
        }
        if (report.devices.size() > 1 && env("CUDA_DEVICE_ORDER") != "PCI_BUS_ID" && !same_model(report.devices)) {
            add_note(report.reason,
                     "CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA may number these different GPUs fastest first, not as listed; set "
                     "CUDA_DEVICE_ORDER=PCI_BUS_ID for the servers and corral to agree");
        }
        report.available = !report.devices.empty();
        if (!report.available) add_note(report.reason, count == 0 ? "the NVIDIA driver reports no GPU" : "no usable GPU");
        host_.debug("NVML: ", count, " GPUs, ", report.devices.size(), " visible, driver ", driver_version);
    }

    // The GPU's memory as a CUDA program sees it. NVML's v1 figures count the memory the driver and
    // firmware reserve (615 MiB on an H200 with driver 580: docs/gpu-h200.md) as total and used, so a
    // budget taken from them would promise memory no server can allocate; v2 reports it apart.
    nvml::Return read_memory(NvmlLibrary& lib, nvml::Device handle, corral::sdk::DeviceInfo& d) {
        if (lib.device_get_memory_info_v2) {
            nvml::MemoryV2 memory{};
            memory.version = nvml::kMemoryV2Version;
            if (lib.device_get_memory_info_v2(handle, &memory) == nvml::kSuccess && memory.reserved <= memory.total) {
                d.memory_total = memory.total - memory.reserved;
                d.memory_free = memory.free;
                d.memory_used = memory.used;
                if (memory.reserved > 0)
                    host_.debug("GPU ", d.uuid, ": ", memory.reserved, " bytes reserved by the driver, left out of its total");
                return nvml::kSuccess;
            }
        }
        nvml::Memory memory{};
        auto r = lib.device_get_memory_info(handle, &memory);
        if (r == nvml::kSuccess) {
            d.memory_total = memory.total;
            d.memory_free = memory.free;
            d.memory_used = memory.used;
        }
        return r;
    }

    static bool same_model(const std::vector<corral::sdk::DeviceInfo>& devices) {
        for (const auto& d : devices) {
            if (d.name != devices.front().name) return false;
        }
        return true;
    }

    corral::sdk::Host host_;
};

constexpr const char* kSchema = R"({"type": "object", "additionalProperties": false, "properties": {}})";

}  // namespace

CORRAL_PROBE_PLUGIN(CudaProbe, "cuda", CORRAL_SDK_VERSION, "NVIDIA GPUs through NVML (libnvidia-ml.so.1, loaded at run time)", kSchema);
