// The metal probe plugin (Apple platforms only): the default Metal device through
// MTLCreateSystemDefaultDevice: its name, the working set Metal recommends for one process
// (recommendedMaxWorkingSetSize, what llama.cpp's Metal backend sizes itself by) and whether its
// memory is unified with the CPU's (Apple silicon).
#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

#include <corral/sdk/sdk.hpp>

namespace {

class MetalProbe final : public corral::sdk::SystemProbe {
public:
    MetalProbe(corral::sdk::Host host, const boost::json::object& options) : host_(host) {
        if (!options.empty()) throw corral::sdk::JsonPathError(std::string(options.begin()->key()), "the metal probe takes no options");
    }

    corral::sdk::ProbeReport probe() override {
        corral::sdk::ProbeReport report;
        report.backend = "metal";
        @autoreleasepool {
            id<MTLDevice> device = MTLCreateSystemDefaultDevice();
            if (device == nil) {
                report.available = false;
                report.reason = "no Metal device (MTLCreateSystemDefaultDevice returned nil)";
                return report;
            }
            corral::sdk::DeviceInfo d;
            d.backend = "metal";
            d.index = 0;
            d.name = [[device name] UTF8String];
            d.unified = [device hasUnifiedMemory];
            d.type = d.unified ? "integrated" : "discrete";
            d.memory_total = [device recommendedMaxWorkingSetSize];
            // Metal has no "free" figure; what this process has allocated counts against the working set.
            uint64_t allocated = [device currentAllocatedSize];
            d.memory_free = d.memory_total > allocated ? d.memory_total - allocated : 0;
            report.devices.push_back(std::move(d));
            report.available = true;
            host_.debug("Metal device ", report.devices.front().name);
        }
        return report;
    }

private:
    corral::sdk::Host host_;
};

constexpr const char* kSchema = R"({"type": "object", "additionalProperties": false, "properties": {}})";

}  // namespace

CORRAL_PROBE_PLUGIN(MetalProbe, "metal", CORRAL_SDK_VERSION, "The Metal GPU on Apple platforms (recommended working set, unified memory)", kSchema);
