// The part of NVML's C API the cuda probe uses, declared here because nvml.h is not packaged with
// Debian's free drivers. Layouts and values are NVML's (nvml.h), which keeps them stable across
// driver releases; the library is loaded at run time, so the probe has no link-time dependency.
#pragma once

namespace corral::cuda::nvml {

using Return = int;
struct DeviceOpaque;
using Device = DeviceOpaque*;

inline constexpr Return kSuccess = 0;
inline constexpr Return kErrorUninitialized = 1;
inline constexpr Return kErrorInvalidArgument = 2;
inline constexpr Return kErrorNotSupported = 3;
inline constexpr Return kErrorNoPermission = 4;
inline constexpr Return kErrorDriverNotLoaded = 9;
inline constexpr Return kErrorGpuIsLost = 15;
inline constexpr Return kErrorLibRmVersionMismatch = 18;
inline constexpr Return kErrorUnknown = 999;

inline constexpr unsigned kDeviceNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
inline constexpr unsigned kUuidBufferSize = 96;        // NVML_DEVICE_UUID_V2_BUFFER_SIZE
inline constexpr unsigned kDriverVersionBufferSize = 80;

struct Memory {  // nvmlMemory_t
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
};

// nvmlMemory_v2_t: `reserved` is what the driver and firmware keep (hundreds of MiB on a data-centre
// GPU); v1's `total` counts it and its `used` includes it, while CUDA programs (cuDeviceTotalMem,
// cudaMemGetInfo) see total - reserved. Passed with `version` = NVML_STRUCT_VERSION(Memory, 2).
struct MemoryV2 {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
};
inline constexpr unsigned int kMemoryV2Version = static_cast<unsigned int>(sizeof(MemoryV2)) | (2u << 24);
static_assert(sizeof(MemoryV2) == 40, "nvmlMemory_v2_t is 40 bytes");

struct Utilization {  // nvmlUtilization_t, percent over the last sample period
    unsigned int gpu;
    unsigned int memory;
};

struct PciInfo {  // nvmlPciInfo_t (v3)
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
};

using InitFn = Return (*)();
using ShutdownFn = Return (*)();
using ErrorStringFn = const char* (*)(Return);
using SystemGetDriverVersionFn = Return (*)(char*, unsigned int);
using DeviceGetCountFn = Return (*)(unsigned int*);
using DeviceGetHandleByIndexFn = Return (*)(unsigned int, Device*);
using DeviceGetNameFn = Return (*)(Device, char*, unsigned int);
using DeviceGetUuidFn = Return (*)(Device, char*, unsigned int);
using DeviceGetPciInfoFn = Return (*)(Device, PciInfo*);
using DeviceGetMemoryInfoFn = Return (*)(Device, Memory*);
using DeviceGetMemoryInfoV2Fn = Return (*)(Device, MemoryV2*);
using DeviceGetUtilizationRatesFn = Return (*)(Device, Utilization*);
using DeviceGetCudaComputeCapabilityFn = Return (*)(Device, int*, int*);

}  // namespace corral::cuda::nvml
