// libnvidia-ml loaded with dlopen, its functions resolved (versioned symbols first), and NVML
// initialised for the object's lifetime.
#pragma once

#include "nvml_api.hpp"

#include <memory>
#include <stdexcept>
#include <string>

namespace corral::cuda {

// Why NVML cannot be used; the probe reports it as "not available".
class NvmlUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class NvmlLibrary {
public:
    // Loads `soname` and calls nvmlInit. Throws NvmlUnavailable (no library, a missing function, no
    // driver loaded, a driver/library version mismatch, ...).
    explicit NvmlLibrary(const char* soname = "libnvidia-ml.so.1");
    ~NvmlLibrary();  // nvmlShutdown, dlclose
    NvmlLibrary(const NvmlLibrary&) = delete;
    NvmlLibrary& operator=(const NvmlLibrary&) = delete;

    std::string error_string(nvml::Return r) const;

    nvml::SystemGetDriverVersionFn system_get_driver_version = nullptr;
    nvml::DeviceGetCountFn device_get_count = nullptr;
    nvml::DeviceGetHandleByIndexFn device_get_handle_by_index = nullptr;
    nvml::DeviceGetNameFn device_get_name = nullptr;
    nvml::DeviceGetUuidFn device_get_uuid = nullptr;
    nvml::DeviceGetPciInfoFn device_get_pci_info = nullptr;
    nvml::DeviceGetMemoryInfoFn device_get_memory_info = nullptr;
    nvml::DeviceGetMemoryInfoV2Fn device_get_memory_info_v2 = nullptr;                    // may be null (drivers before R510)
    nvml::DeviceGetUtilizationRatesFn device_get_utilization_rates = nullptr;             // may be null
    nvml::DeviceGetCudaComputeCapabilityFn device_get_cuda_compute_capability = nullptr;  // may be null

private:
    struct Handle {
        void operator()(void* h) const;
    };
    std::unique_ptr<void, Handle> handle_;
    nvml::ShutdownFn shutdown_ = nullptr;
    nvml::ErrorStringFn error_string_ = nullptr;
};

}  // namespace corral::cuda
