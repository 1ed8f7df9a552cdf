// A GoogleMock ProcessRunner (the port every runner plugin implements), for unit tests of host
// logic; and probe reports of fake GPUs to describe machines with.
#pragma once

#include <corral/sdk/runner.hpp>
#include <corral/sdk/types.hpp>

#include <gmock/gmock.h>

#include <cstdint>
#include <string>
#include <vector>

namespace corral::test {

class MockProcessRunner : public sdk::ProcessRunner {
public:
    MOCK_METHOD(sdk::ProcessHandle, start, (const sdk::ServerConfig&), (override));
    MOCK_METHOD(void, stop, (const sdk::ProcessHandle&, std::chrono::milliseconds), (override));
    MOCK_METHOD(bool, is_running, (const sdk::ProcessHandle&), (override));
    MOCK_METHOD(sdk::ServerHealth, health, (const sdk::ProcessHandle&), (override));
    MOCK_METHOD(std::vector<sdk::ProcessHandle>, list_running, (), (override));
};

// A cuda probe report with one discrete GPU per entry of `gib` (its memory in GiB), numbered from 0,
// with UUIDs "GPU-0", "GPU-1", ...
inline sdk::ProbeReport cuda_report(const std::vector<uint64_t>& gib) {
    sdk::ProbeReport r;
    r.backend = "cuda";
    r.available = true;
    for (std::size_t i = 0; i < gib.size(); ++i) {
        sdk::DeviceInfo d;
        d.backend = "cuda";
        d.index = static_cast<int32_t>(i);
        d.name = "Fake GPU";
        d.type = "discrete";
        d.uuid = "GPU-" + std::to_string(i);
        d.memory_total = gib[i] << 30;
        r.devices.push_back(d);
    }
    return r;
}

}  // namespace corral::test
