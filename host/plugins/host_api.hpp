// The corral_host_api the host hands each plugin instance: logging into "plugin.<name>" and events
// forwarded to a handler. One per instance; it must outlive the instance (destroy() is called first).
#pragma once

#include "plugins/runner_events.hpp"

#include <corral/sdk/plugin_abi.h>

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace corral::plugins {

class PluginHostApi {
public:
    PluginHostApi(std::string plugin_name, RunnerEventHandler on_event);
    PluginHostApi(const PluginHostApi&) = delete;
    PluginHostApi& operator=(const PluginHostApi&) = delete;

    const corral_host_api* api() const noexcept { return &api_; }

private:
    static void log(void* ctx, int32_t level, corral_str message) noexcept;
    static void emit(void* ctx, const corral_event* event) noexcept;

    std::string plugin_name_;
    std::shared_ptr<spdlog::logger> logger_;
    RunnerEventHandler on_event_;
    corral_host_api api_;
};

}  // namespace corral::plugins
