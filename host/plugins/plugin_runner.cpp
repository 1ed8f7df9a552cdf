#include "plugins/plugin_runner.hpp"

#include "plugins/abi_call.hpp"
#include "plugins/plugin.hpp"

#include <corral/sdk/types.hpp>

#include <boost/json.hpp>

#include <cstddef>

namespace corral::plugins {
namespace {

corral_str borrow(const std::string& s) {
    return corral_str{s.data(), s.size()};
}

template <class T>
T parse_as(std::string_view plugin, std::string_view op, const std::string& text) {
    try {
        return sdk::from_json<T>(sdk::parse_json(text, "result"), "result");
    } catch (const std::exception& e) {
        throw sdk::Error(sdk::ProcessError::Internal,
                         "plugin " + std::string(plugin) + ": " + std::string(op) + " returned a malformed result: " + e.what());
    }
}

template <class T>
std::vector<T> parse_list(std::string_view plugin, std::string_view op, const std::string& text) {
    std::vector<T> list;
    try {
        auto v = sdk::parse_json(text, "result");
        if (!v.is_array()) throw sdk::Error(sdk::ProcessError::Internal, "expected an array");
        std::size_t i = 0;
        for (const auto& item : v.get_array()) list.push_back(sdk::from_json<T>(item, sdk::json_path_index("result", i++)));
    } catch (const std::exception& e) {
        throw sdk::Error(sdk::ProcessError::Internal,
                         "plugin " + std::string(plugin) + ": " + std::string(op) + " returned a malformed result: " + e.what());
    }
    return list;
}

}  // namespace

PluginRunner::PluginRunner(std::shared_ptr<const Plugin> plugin, std::unique_ptr<PluginHostApi> host, const corral_runner_vtable* vtable,
                           void* self)
    : plugin_(std::move(plugin)), host_(std::move(host)), vtable_(vtable), self_(self), name_(plugin_->info().name) {}

PluginRunner::~PluginRunner() {
    vtable_->destroy(self_);
}

sdk::ProcessHandle PluginRunner::start(const sdk::ServerConfig& config) {
    auto json = boost::json::serialize(sdk::to_json(config));
    auto out = call_plugin(name_, "start", [&](corral_sink* sink) { return vtable_->start(self_, borrow(json), sink); });
    return parse_as<sdk::ProcessHandle>(name_, "start", out);
}

void PluginRunner::stop(const sdk::ProcessHandle& handle, std::chrono::milliseconds grace) {
    auto json = boost::json::serialize(sdk::to_json(handle));
    auto grace_ms = static_cast<uint64_t>(std::max<int64_t>(0, grace.count()));
    call_plugin(name_, "stop", [&](corral_sink* sink) { return vtable_->stop(self_, borrow(json), grace_ms, sink); });
}

bool PluginRunner::is_running(const sdk::ProcessHandle& handle) {
    auto json = boost::json::serialize(sdk::to_json(handle));
    int32_t running = 0;
    call_plugin(name_, "is_running", [&](corral_sink* sink) { return vtable_->is_running(self_, borrow(json), &running, sink); });
    return running != 0;
}

sdk::ServerHealth PluginRunner::health(const sdk::ProcessHandle& handle) {
    auto json = boost::json::serialize(sdk::to_json(handle));
    auto out = call_plugin(name_, "health", [&](corral_sink* sink) { return vtable_->health(self_, borrow(json), sink); });
    return parse_as<sdk::ServerHealth>(name_, "health", out);
}

std::vector<sdk::ProcessHandle> PluginRunner::list_running() {
    auto out = call_plugin(name_, "list_running", [&](corral_sink* sink) { return vtable_->list_running(self_, sink); });
    return parse_list<sdk::ProcessHandle>(name_, "list_running", out);
}

sdk::ProcessHandle PluginRunner::adopt(const sdk::ProcessHandle& handle) {
    if (!vtable_->adopt) throw sdk::Error(sdk::ProcessError::NotSupported, "plugin " + name_ + ": adopt: not supported");
    auto json = boost::json::serialize(sdk::to_json(handle));
    auto out = call_plugin(name_, "adopt", [&](corral_sink* sink) { return vtable_->adopt(self_, borrow(json), sink); });
    return parse_as<sdk::ProcessHandle>(name_, "adopt", out);
}

std::vector<sdk::MachineInfo> PluginRunner::machines() {
    if (!has(offsetof(corral_runner_vtable, machines), sizeof(vtable_->machines)) || !vtable_->machines)
        throw sdk::Error(sdk::ProcessError::NotSupported, "plugin " + name_ + ": machines: not supported (plugin ABI 1.0)");
    auto out = call_plugin(name_, "machines", [&](corral_sink* sink) { return vtable_->machines(self_, sink); });
    return parse_list<sdk::MachineInfo>(name_, "machines", out);
}

std::string PluginRunner::slot_cache_root() {
    if (!has(offsetof(corral_runner_vtable, slot_cache_root), sizeof(vtable_->slot_cache_root)) || !vtable_->slot_cache_root)
        throw sdk::Error(sdk::ProcessError::NotSupported, "plugin " + name_ + ": slot_cache_root: not supported (plugin ABI < 1.2)");
    auto out = call_plugin(name_, "slot_cache_root", [&](corral_sink* sink) { return vtable_->slot_cache_root(self_, sink); });
    std::error_code ec;
    auto root = boost::json::parse(out, ec);
    if (ec || !root.is_string() || root.get_string().empty() || root.get_string().front() != '/')
        throw sdk::Error(sdk::ProcessError::Internal,
                         "plugin " + name_ + ": slot_cache_root returned no absolute path: " + out.substr(0, 200));
    return std::string(root.get_string());
}

std::vector<sdk::StoredFile> PluginRunner::list_files(const std::string& dir) {
    if (!has(offsetof(corral_runner_vtable, list_files), sizeof(vtable_->list_files)) || !vtable_->list_files)
        throw sdk::Error(sdk::ProcessError::NotSupported, "plugin " + name_ + ": list_files: not supported (plugin ABI < 1.2)");
    auto out = call_plugin(name_, "list_files", [&](corral_sink* sink) { return vtable_->list_files(self_, borrow(dir), sink); });
    return parse_list<sdk::StoredFile>(name_, "list_files", out);
}

void PluginRunner::remove_files(const std::vector<std::string>& paths) {
    if (!has(offsetof(corral_runner_vtable, remove_files), sizeof(vtable_->remove_files)) || !vtable_->remove_files)
        throw sdk::Error(sdk::ProcessError::NotSupported, "plugin " + name_ + ": remove_files: not supported (plugin ABI < 1.2)");
    auto json = boost::json::serialize(boost::json::value_from(paths));
    call_plugin(name_, "remove_files", [&](corral_sink* sink) { return vtable_->remove_files(self_, borrow(json), sink); });
}

PluginProbe::PluginProbe(std::shared_ptr<const Plugin> plugin, std::unique_ptr<PluginHostApi> host, const corral_probe_vtable* vtable,
                         void* self)
    : plugin_(std::move(plugin)), host_(std::move(host)), vtable_(vtable), self_(self), name_(plugin_->info().name) {}

PluginProbe::~PluginProbe() {
    vtable_->destroy(self_);
}

sdk::ProbeReport PluginProbe::probe() {
    auto out = call_plugin(name_, "probe", [&](corral_sink* sink) { return vtable_->probe(self_, sink); });
    return parse_as<sdk::ProbeReport>(name_, "probe", out);
}

}  // namespace corral::plugins
