// Keeps model servers' prompt caches across their restarts (kv_cache): a server corral is about to
// stop saves each slot that holds a prompt (POST /slots/N?action=save into its --slot-save-path),
// and a server of the same model and settings restores them once it is up, before its first
// request (action=restore). Each side is bounded by kv_cache.timeout and never fails the stop or
// the start: a cache that cannot be saved or restored is logged and the prompt is evaluated again.
// The files are on corral's disk under its state directory, or, for a runner with a disk of its own
// (slot_cache_root: ssh, slurm), under that runner's root; kv_cache.max_disk applies to each disk.
// Runs on the serve thread, with the supervisor's hooks; file work runs on the worker threads.
#pragma once

#include "admin/event_bus.hpp"
#include "admin/metrics.hpp"
#include "config/config.hpp"
#include "serve/runner_set.hpp"
#include "state/slot_cache_files.hpp"
#include "supervisor/instance.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace corral::serve {

class SlotCacheKeeper {
public:
    SlotCacheKeeper(const std::filesystem::path& state_dir, boost::asio::thread_pool& workers, const RunnerSet& runners,
                    admin::Metrics& metrics, admin::EventBus& events);

    void set_config(const config::KvCacheConfig& config) { config_ = config; }
    // Where a server of `model` (with `fingerprint`, on `runner`) keeps its slot caches; nullopt when
    // they are not kept: kv_cache.keep off, or a runner whose servers cannot save them (a remote one
    // without a disk of its own for them).
    std::optional<std::string> save_path(const config::ModelConfig& model, const std::string& fingerprint,
                                         const supervisor::RunnerSlot& runner) const;

    // Before a serving instance with a slot_save_path stops.
    boost::asio::awaitable<void> save(std::shared_ptr<supervisor::Instance> instance);
    // After an instance with a slot_save_path started, before it is ready.
    boost::asio::awaitable<void> restore(std::shared_ptr<supervisor::Instance> instance);

    // Drops the caches no configured model can use (model -> the fingerprints it has now): on corral's
    // disk at once, on the runners' disks on a worker thread.
    void retain(const std::map<std::string, std::set<std::string>>& keep);

private:
    // The files of an instance's runner: its own disk when it has one, else corral's.
    state::SlotCacheFiles files_of(const std::shared_ptr<supervisor::RunnerSlot>& runner) const;

    state::SlotCacheFiles local_;
    boost::asio::thread_pool& workers_;
    const RunnerSet& runners_;
    admin::Metrics& metrics_;
    admin::EventBus& events_;
    config::KvCacheConfig config_;
};

}  // namespace corral::serve
