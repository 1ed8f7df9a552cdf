#include "nvml_library.hpp"

#include <dlfcn.h>

#include <initializer_list>

namespace corral::cuda {
namespace {

// The first of `names` the library exports (newest version first), or nullptr.
template <class Fn>
Fn resolve(void* handle, std::initializer_list<const char*> names) {
    for (const char* name : names) {
        if (void* symbol = ::dlsym(handle, name)) return reinterpret_cast<Fn>(symbol);
    }
    return nullptr;
}

template <class Fn>
Fn require(void* handle, std::initializer_list<const char*> names) {
    auto fn = resolve<Fn>(handle, names);
    if (!fn) throw NvmlUnavailable(std::string("the NVML library lacks ") + *names.begin() + " (driver too old?)");
    return fn;
}

}  // namespace

void NvmlLibrary::Handle::operator()(void* h) const {
    if (h) ::dlclose(h);
}

NvmlLibrary::NvmlLibrary(const char* soname) {
    handle_.reset(::dlopen(soname, RTLD_NOW | RTLD_LOCAL));
    if (!handle_) {
        const char* why = ::dlerror();
        throw NvmlUnavailable(std::string("no NVIDIA driver: cannot load ") + soname +
                              (why ? std::string(" (") + why + ")" : std::string()));
    }
    void* h = handle_.get();
    auto init = require<nvml::InitFn>(h, {"nvmlInit_v2", "nvmlInit"});
    shutdown_ = require<nvml::ShutdownFn>(h, {"nvmlShutdown"});
    error_string_ = resolve<nvml::ErrorStringFn>(h, {"nvmlErrorString"});
    system_get_driver_version = require<nvml::SystemGetDriverVersionFn>(h, {"nvmlSystemGetDriverVersion"});
    device_get_count = require<nvml::DeviceGetCountFn>(h, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
    device_get_handle_by_index =
        require<nvml::DeviceGetHandleByIndexFn>(h, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
    device_get_name = require<nvml::DeviceGetNameFn>(h, {"nvmlDeviceGetName"});
    device_get_uuid = require<nvml::DeviceGetUuidFn>(h, {"nvmlDeviceGetUUID"});
    device_get_pci_info = require<nvml::DeviceGetPciInfoFn>(h, {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2"});
    device_get_memory_info = require<nvml::DeviceGetMemoryInfoFn>(h, {"nvmlDeviceGetMemoryInfo"});
    device_get_memory_info_v2 = resolve<nvml::DeviceGetMemoryInfoV2Fn>(h, {"nvmlDeviceGetMemoryInfo_v2"});
    device_get_utilization_rates = resolve<nvml::DeviceGetUtilizationRatesFn>(h, {"nvmlDeviceGetUtilizationRates"});
    device_get_cuda_compute_capability = resolve<nvml::DeviceGetCudaComputeCapabilityFn>(h, {"nvmlDeviceGetCudaComputeCapability"});

    if (auto r = init(); r != nvml::kSuccess) {
        std::string what = r == nvml::kErrorDriverNotLoaded ? "the NVIDIA driver is not loaded"
                           : r == nvml::kErrorLibRmVersionMismatch
                               ? "the NVIDIA driver and its NVML library differ in version (reboot after a driver update?)"
                           : r == nvml::kErrorNoPermission ? "no permission to talk to the NVIDIA driver"
                                                           : "NVML initialisation failed";
        throw NvmlUnavailable(what + " (nvmlInit: " + error_string(r) + ", code " + std::to_string(r) + ")");
    }
}

NvmlLibrary::~NvmlLibrary() {
    if (shutdown_) shutdown_();
}

std::string NvmlLibrary::error_string(nvml::Return r) const {
    const char* s = error_string_ ? error_string_(r) : nullptr;
    return s ? s : "error " + std::to_string(r);
}

}  // namespace corral::cuda
