// Keeps model servers' prompt caches across their restarts (kv_cache): a server corral is about to
// stop saves each slot that holds a prompt (POST /slots/N?action=save into its --slot-save-path),
// and a server of the same model and settings restores them once it is up, before its first
// request (action=restore). Each side is bounded by kv_cache.timeout and never fails the stop or
// the start: a cache that cannot be saved or restored is logged and the prompt is evaluated again.
// Runs on the serve thread, with the supervisor's hooks.
#pragma once

#include "admin/event_bus.hpp"
#include "admin/metrics.hpp"
#include "config/config.hpp"
#include "state/slot_cache_files.hpp"
#include "supervisor/instance.hpp"

#include <boost/asio/awaitable.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace corral::serve {

class SlotCacheKeeper {
public:
    SlotCacheKeeper(std::filesystem::path state_dir, admin::Metrics& metrics, admin::EventBus& events);

    void set_config(const config::KvCacheConfig& config) { config_ = config; }
    // Where a server of `model` (with `fingerprint`, on `runner`) keeps its slot caches; nullopt when
    // they are not kept: kv_cache.keep off, or a runner whose servers cannot save them here.
    std::optional<std::string> save_path(const config::ModelConfig& model, const std::string& fingerprint,
                                         const supervisor::RunnerSlot& runner) const;

    // Before a serving instance with a slot_save_path stops.
    boost::asio::awaitable<void> save(std::shared_ptr<supervisor::Instance> instance);
    // After an instance with a slot_save_path started, before it is ready.
    boost::asio::awaitable<void> restore(std::shared_ptr<supervisor::Instance> instance);

    // Drops the caches no configured model can use (model -> the fingerprints it has now).
    void retain(const std::map<std::string, std::set<std::string>>& keep) const { files_.retain(keep); }

private:
    state::SlotCacheFiles files_;
    admin::Metrics& metrics_;
    admin::EventBus& events_;
    config::KvCacheConfig config_;
};

}  // namespace corral::serve
