// A runner plugin instance seen through the C++ ProcessRunner port: the host's scheduler and
// supervisor use this, and unit tests substitute GoogleMock doubles of the same port.
#pragma once

#include "plugins/host_api.hpp"

#include <corral/sdk/plugin_abi.h>
#include <corral/sdk/probe.hpp>
#include <corral/sdk/runner.hpp>

#include <memory>
#include <string>

namespace corral::plugins {

class Plugin;

class PluginRunner final : public sdk::ProcessRunner {
public:
    // Takes ownership of `self` (made by vtable->create with host->api()).
    PluginRunner(std::shared_ptr<const Plugin> plugin, std::unique_ptr<PluginHostApi> host, const corral_runner_vtable* vtable, void* self);
    ~PluginRunner() override;
    PluginRunner(const PluginRunner&) = delete;
    PluginRunner& operator=(const PluginRunner&) = delete;

    sdk::ProcessHandle start(const sdk::ServerConfig& config) override;
    void stop(const sdk::ProcessHandle& handle, std::chrono::milliseconds grace) override;
    bool is_running(const sdk::ProcessHandle& handle) override;
    sdk::ServerHealth health(const sdk::ProcessHandle& handle) override;
    std::vector<sdk::ProcessHandle> list_running() override;
    sdk::ProcessHandle adopt(const sdk::ProcessHandle& handle) override;
    std::vector<sdk::MachineInfo> machines() override;  // NotSupported from a 1.0 plugin
    // NotSupported from a plugin older than ABI 1.2.
    std::string slot_cache_root() override;
    std::vector<sdk::StoredFile> list_files(const std::string& dir) override;
    void remove_files(const std::vector<std::string>& paths) override;

private:
    // Whether the plugin's vtable has the member at `offset` (its struct_size reaches past it).
    bool has(std::size_t offset, std::size_t size) const { return vtable_->struct_size >= offset + size; }

    std::shared_ptr<const Plugin> plugin_;  // keeps the descriptor's owner alive
    std::unique_ptr<PluginHostApi> host_;   // must outlive self_
    const corral_runner_vtable* vtable_;
    void* self_;
    std::string name_;
};

class PluginProbe final : public sdk::SystemProbe {
public:
    PluginProbe(std::shared_ptr<const Plugin> plugin, std::unique_ptr<PluginHostApi> host, const corral_probe_vtable* vtable, void* self);
    ~PluginProbe() override;
    PluginProbe(const PluginProbe&) = delete;
    PluginProbe& operator=(const PluginProbe&) = delete;

    sdk::ProbeReport probe() override;

private:
    std::shared_ptr<const Plugin> plugin_;
    std::unique_ptr<PluginHostApi> host_;
    const corral_probe_vtable* vtable_;
    void* self_;
    std::string name_;
};

}  // namespace corral::plugins
