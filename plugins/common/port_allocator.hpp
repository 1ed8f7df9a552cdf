// Free loopback ports for servers started without a fixed port. The kernel picks a port (bind to
// port 0); the port stays reserved in this process until released, so concurrent starts never get
// the same one. Another process can still take it before llama-server binds: the runner retries
// such a start with a new port.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

namespace corral::plugin_common {

class PortAllocator {
public:
    // Throws sdk::Error(ResourceExhausted) when no port can be had.
    uint16_t allocate(const std::string& host);
    void release(uint16_t port);

private:
    std::mutex mutex_;
    std::set<uint16_t> reserved_;
};

}  // namespace corral::plugin_common
