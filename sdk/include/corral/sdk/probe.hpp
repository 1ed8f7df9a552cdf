// corral SDK: the SystemProbe port, implemented by system-probe plugins.
#pragma once

#include <corral/sdk/types.hpp>

namespace corral::sdk {

// Reports one compute backend's devices and memory. A probe plugin derives from this class and gives
// it a constructor `Class(corral::sdk::Host host, const boost::json::object& options)`.
// A backend that is absent (no driver, no library) is not an error: return available = false with
// the reason. Throw only when probing itself broke.
class SystemProbe {
public:
    virtual ~SystemProbe() = default;
    virtual ProbeReport probe() = 0;
};

}  // namespace corral::sdk
