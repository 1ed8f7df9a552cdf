// The corral_host_api the host hands each plugin instance: logging into "plugin.<name>", and events
// and server output lines forwarded to handlers. One per instance; it must outlive the instance
// (destroy() is called first).
#pragma once

#include "plugins/runner_events.hpp"

#include <corral/sdk/plugin_abi.h>

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace corral::plugins {

class PluginHostApi {
public:
    // Lines that come through log_line go to `on_line`, or without one to `on_event` as LogLine events.
    PluginHostApi(std::string plugin_name, RunnerEventHandler on_event, RunnerLineHandler on_line = nullptr);
    PluginHostApi(const PluginHostApi&) = delete;
    PluginHostApi& operator=(const PluginHostApi&) = delete;

    const corral_host_api* api() const noexcept { return &api_; }

private:
    static void log(void* ctx, int32_t level, corral_str message) noexcept;
    static void emit(void* ctx, const corral_event* event) noexcept;
    static void log_line(void* ctx, corral_str instance_id, corral_str stream, corral_str line) noexcept;

    std::string plugin_name_;
    std::shared_ptr<spdlog::logger> logger_;
    RunnerEventHandler on_event_;
    RunnerLineHandler on_line_;
    corral_host_api api_;
};

}  // namespace corral::plugins
