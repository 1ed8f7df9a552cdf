// libFuzzer target: the config loader on arbitrary text. Every input must give a config or errors
// that each name a JSON path; nothing may crash or throw.
#include "config/config_loader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto result = corral::config::parse_config(text, "/nonexistent/base");
    if (!result.config && result.errors.empty()) std::abort();  // a refusal always says why
    for (const auto& e : result.errors) (void)e.to_string();
    return 0;
}
