// The vulkan probe plugin: physical devices through the Vulkan loader (libvulkan.so.1, loaded at run
// time): name, type, driver, UUID, device-local heap sizes, and free memory through
// VK_EXT_memory_budget where the driver has it (Mesa's llvmpipe does not: heap size only).
#define VK_NO_PROTOTYPES
#include "driver_version.hpp"

#include <vulkan/vulkan.h>

#include <corral/sdk/sdk.hpp>

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

class Unavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string vk_error(const char* call, VkResult r) {
    return std::string(call) + " failed (VkResult " + std::to_string(r) + ")";
}

std::string device_type(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
            return "discrete";
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
            return "integrated";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
            return "virtual";
        case VK_PHYSICAL_DEVICE_TYPE_CPU:
            return "cpu";
        default:
            return "";
    }
}

std::string uuid_text(const uint8_t (&uuid)[VK_UUID_SIZE]) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0], uuid[1], uuid[2],
                  uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14],
                  uuid[15]);
    return buf;
}

template <std::size_t N>
std::string text(const char (&buffer)[N]) {
    return std::string(buffer, strnlen(buffer, N));
}

// The Vulkan loader, dlopen'ed, with an instance for the probe's lifetime.
class VulkanInstance {
public:
    VulkanInstance() {
        library_.reset(::dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL));
        if (!library_) throw Unavailable("no Vulkan loader: cannot load libvulkan.so.1 (install libvulkan1 and a Vulkan driver)");
        get_instance_proc_ = reinterpret_cast<PFN_vkGetInstanceProcAddr>(::dlsym(library_.get(), "vkGetInstanceProcAddr"));
        if (!get_instance_proc_) throw Unavailable("libvulkan.so.1 lacks vkGetInstanceProcAddr");
        auto create = load<PFN_vkCreateInstance>(VK_NULL_HANDLE, "vkCreateInstance");
        auto version = load<PFN_vkEnumerateInstanceVersion>(VK_NULL_HANDLE, "vkEnumerateInstanceVersion");
        uint32_t api = VK_API_VERSION_1_0;
        if (version) version(&api);
        if (api < VK_API_VERSION_1_1) throw Unavailable("the Vulkan loader supports only Vulkan 1.0 (1.1 is needed)");
        VkApplicationInfo app{};
        app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
        app.pApplicationName = "corral vulkan probe";
        app.apiVersion = VK_API_VERSION_1_1;
        VkInstanceCreateInfo info{};
        info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
        info.pApplicationInfo = &app;
        if (!create) throw Unavailable("libvulkan.so.1 lacks vkCreateInstance");
        if (auto r = create(&info, nullptr, &instance_); r != VK_SUCCESS) {
            throw Unavailable(r == VK_ERROR_INCOMPATIBLE_DRIVER ? "no Vulkan driver (ICD) is installed" : vk_error("vkCreateInstance", r));
        }
        destroy_ = load<PFN_vkDestroyInstance>(instance_, "vkDestroyInstance");
    }
    ~VulkanInstance() {
        if (instance_ && destroy_) destroy_(instance_, nullptr);
    }
    VulkanInstance(const VulkanInstance&) = delete;
    VulkanInstance& operator=(const VulkanInstance&) = delete;

    template <class Fn>
    Fn load(VkInstance instance, const char* name) const {
        return reinterpret_cast<Fn>(get_instance_proc_(instance, name));
    }
    template <class Fn>
    Fn require(const char* name) const {
        auto fn = load<Fn>(instance_, name);
        if (!fn) throw Unavailable(std::string("the Vulkan loader lacks ") + name);
        return fn;
    }
    VkInstance get() const { return instance_; }

private:
    struct Close {
        void operator()(void* h) const { ::dlclose(h); }
    };
    std::unique_ptr<void, Close> library_;
    PFN_vkGetInstanceProcAddr get_instance_proc_ = nullptr;
    PFN_vkDestroyInstance destroy_ = nullptr;
    VkInstance instance_ = VK_NULL_HANDLE;
};

class VulkanProbe final : public corral::sdk::SystemProbe {
public:
    VulkanProbe(corral::sdk::Host host, const boost::json::object& options) : host_(host) {
        if (!options.empty()) throw corral::sdk::JsonPathError(std::string(options.begin()->key()), "the vulkan probe takes no options");
    }

    corral::sdk::ProbeReport probe() override {
        corral::sdk::ProbeReport report;
        report.backend = "vulkan";
        try {
            VulkanInstance vk;
            probe_devices(vk, report);
        } catch (const Unavailable& e) {
            report.available = false;
            report.reason = e.what();
            report.devices.clear();
        }
        return report;
    }

private:
    void probe_devices(const VulkanInstance& vk, corral::sdk::ProbeReport& report) {
        auto enumerate = vk.require<PFN_vkEnumeratePhysicalDevices>("vkEnumeratePhysicalDevices");
        auto properties2 = vk.require<PFN_vkGetPhysicalDeviceProperties2>("vkGetPhysicalDeviceProperties2");
        auto memory2 = vk.require<PFN_vkGetPhysicalDeviceMemoryProperties2>("vkGetPhysicalDeviceMemoryProperties2");
        auto extensions = vk.require<PFN_vkEnumerateDeviceExtensionProperties>("vkEnumerateDeviceExtensionProperties");

        uint32_t count = 0;
        if (auto r = enumerate(vk.get(), &count, nullptr); r != VK_SUCCESS) throw Unavailable(vk_error("vkEnumeratePhysicalDevices", r));
        std::vector<VkPhysicalDevice> devices(count);
        if (auto r = enumerate(vk.get(), &count, devices.data()); r != VK_SUCCESS && r != VK_INCOMPLETE) {
            throw Unavailable(vk_error("vkEnumeratePhysicalDevices", r));
        }
        devices.resize(count);
        for (uint32_t i = 0; i < count; ++i) {
            VkPhysicalDeviceIDProperties ids{};
            ids.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES;
            VkPhysicalDeviceProperties2 props{};
            props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
            props.pNext = &ids;
            properties2(devices[i], &props);

            VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{};
            budget.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT;
            const bool has_budget = has_extension(extensions, devices[i], VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
            VkPhysicalDeviceMemoryProperties2 memory{};
            memory.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
            memory.pNext = has_budget ? &budget : nullptr;
            memory2(devices[i], &memory);

            corral::sdk::DeviceInfo d;
            d.backend = "vulkan";
            d.index = static_cast<int32_t>(i);
            d.name = text(props.properties.deviceName);
            d.type = device_type(props.properties.deviceType);
            d.uuid = uuid_text(ids.deviceUUID);
            d.driver = corral::vulkan::driver_version(props.properties.vendorID, props.properties.driverVersion);
            d.unified = d.type == "integrated" || d.type == "cpu";
            // Device-local heaps hold the model on a discrete GPU; an integrated GPU or a CPU device
            // shares system memory, where every heap counts.
            uint64_t total = 0, free = 0;
            const auto& mp = memory.memoryProperties;
            for (uint32_t h = 0; h < mp.memoryHeapCount && h < VK_MAX_MEMORY_HEAPS; ++h) {
                if (!d.unified && !(mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
                total += mp.memoryHeaps[h].size;
                if (has_budget) {
                    auto used = budget.heapUsage[h], limit = budget.heapBudget[h];
                    free += limit > used ? limit - used : 0;
                }
            }
            d.memory_total = total;
            if (has_budget) d.memory_free = free;
            report.devices.push_back(std::move(d));
        }
        report.available = !report.devices.empty();
        if (!report.available) report.reason = "the Vulkan loader reports no device";
        host_.debug("Vulkan: ", count, " physical devices");
    }

    static bool has_extension(PFN_vkEnumerateDeviceExtensionProperties list, VkPhysicalDevice device, const char* name) {
        uint32_t n = 0;
        if (list(device, nullptr, &n, nullptr) != VK_SUCCESS) return false;
        std::vector<VkExtensionProperties> props(n);
        if (list(device, nullptr, &n, props.data()) != VK_SUCCESS) return false;
        for (uint32_t i = 0; i < n && i < props.size(); ++i) {
            if (text(props[i].extensionName) == name) return true;
        }
        return false;
    }

    corral::sdk::Host host_;
};

constexpr const char* kSchema = R"({"type": "object", "additionalProperties": false, "properties": {}})";

}  // namespace

CORRAL_PROBE_PLUGIN(VulkanProbe, "vulkan", CORRAL_SDK_VERSION, "Vulkan devices through libvulkan.so.1 (loaded at run time)", kSchema);
