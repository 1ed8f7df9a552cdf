#include "serve/slot_cache_keeper.hpp"

#include "config/units.hpp"
#include "http_health.hpp"
#include "logging/logging.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <system_error>

namespace corral::serve {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> log() {
    return logging::get("kv-cache");
}

// A JSON member as an integer; 0 when absent or not a number.
int64_t integer(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_number() ? v->to_number<int64_t>() : 0;
}

// One call to the server with what is left of the deadline.
class ServerCalls {
public:
    ServerCalls(const supervisor::Instance& instance, clock::time_point deadline)
        : endpoint_(plugin_common::parse_http_endpoint(instance.handle ? instance.handle->endpoint : "")),
          key_(instance.upstream_key),
          deadline_(deadline) {}

    bool valid() const { return endpoint_.has_value(); }

    // The JSON answer of a 200; nullopt (with `error` set) for anything else.
    asio::awaitable<std::optional<json::value>> call(std::string method, std::string target, std::string body) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - clock::now());
        if (left.count() <= 0) {
            error = "kv_cache.timeout passed";
            out_of_time = true;
            co_return std::nullopt;
        }
        plugin_common::HttpCall c;
        c.method = std::move(method);
        c.target = std::move(target);
        c.body = std::move(body);
        c.bearer_token = key_;
        const auto what = c.method + " " + c.target;
        auto reply = co_await plugin_common::http_exchange(*endpoint_, std::move(c), left);
        if (reply.status != 200) {
            error = reply.status == 0 ? reply.error : what + " answered " + std::to_string(reply.status) + ": " + reply.body.substr(0, 200);
            co_return std::nullopt;
        }
        std::error_code ec;
        auto parsed = json::parse(reply.body, ec);
        if (ec) {
            error = what + " answered no JSON: " + ec.message();
            co_return std::nullopt;
        }
        co_return parsed;
    }

    // The server's slots (GET /slots); nullopt (with `error` set) when it lists none.
    asio::awaitable<std::optional<json::array>> slots() {
        auto answer = co_await call("GET", "/slots", "");
        if (answer && !answer->is_array()) error = "GET /slots answered no list";
        if (!answer || !answer->is_array()) co_return std::nullopt;
        co_return std::move(answer->get_array());
    }

    std::string error;
    bool out_of_time = false;  // a call was not made: kv_cache.timeout had passed

private:
    std::optional<plugin_common::HttpEndpoint> endpoint_;
    std::string key_;
    clock::time_point deadline_;
};

// The disk a runner's servers keep their caches on, reached through the runner (blocking calls: on
// worker threads only). Restoring a file does not mark it used there: the server's next stop saves
// the restored slots again, which does.
class RunnerCacheDisk final : public state::CacheDisk {
public:
    explicit RunnerCacheDisk(std::shared_ptr<supervisor::RunnerSlot> runner) : runner_(std::move(runner)) {}
    std::vector<sdk::StoredFile> list(const std::string& dir) override { return runner_->runner->list_files(dir); }
    void remove(const std::vector<std::string>& paths) override { runner_->runner->remove_files(paths); }
    void touch(const std::string&) override {}

private:
    std::shared_ptr<supervisor::RunnerSlot> runner_;
};

// Runs `work` on a worker thread and resumes on the caller's executor; its exception is rethrown.
template <class Work>
asio::awaitable<void> on_workers(asio::thread_pool& workers, Work work) {
    co_await asio::co_spawn(
        workers,
        [&]() -> asio::awaitable<void> {
            work();
            co_return;
        },
        asio::use_awaitable);
}

std::string slot_target(int64_t slot, std::string_view action) {
    return "/slots/" + std::to_string(slot) + "?action=" + std::string(action);
}

std::string file_body(const std::string& name) {
    return json::serialize(json::object{{"filename", name}});
}

}  // namespace

SlotCacheKeeper::SlotCacheKeeper(const std::filesystem::path& state_dir, asio::thread_pool& workers, const RunnerSet& runners,
                                 admin::Metrics& metrics, admin::EventBus& events)
    : local_(state_dir), workers_(workers), runners_(runners), metrics_(metrics), events_(events) {}

state::SlotCacheFiles SlotCacheKeeper::files_of(const std::shared_ptr<supervisor::RunnerSlot>& runner) const {
    if (!runner || runner->slot_cache_root.empty()) return local_;
    return state::SlotCacheFiles(runner->slot_cache_root, std::make_shared<RunnerCacheDisk>(runner));
}

void SlotCacheKeeper::retain(const std::map<std::string, std::set<std::string>>& keep) {
    local_.retain(keep);
    for (const auto& [name, runner] : runners_.slots()) {
        if (runner->slot_cache_root.empty()) continue;
        asio::post(workers_, [files = files_of(runner), keep, name = name] {
            try {
                files.retain(keep);
            } catch (const std::exception& e) {
                log()->warn("runner {}: cannot drop the prompt caches no model uses: {}", name, e.what());
            }
        });
    }
}

std::optional<std::string> SlotCacheKeeper::save_path(const config::ModelConfig& model, const std::string& fingerprint,
                                                      const supervisor::RunnerSlot& runner) const {
    if (!model.keep_kv_cache.value_or(config_.keep)) return std::nullopt;
    // The server writes the files itself: only a runner that passes the path on.
    if (!runner.slot_cache) return std::nullopt;
    // A runner with a disk of its own for them: its root (it creates the directory when it starts the
    // server; the model file is on that side too, so a replaced file is not noticed there).
    if (!runner.slot_cache_root.empty()) return state::SlotCacheFiles::directory(runner.slot_cache_root, model.name, fingerprint);
    // Else only servers on corral's machine can use its disk: not those of a remote runner, nor of
    // one that describes machines of its own (a cluster's nodes).
    if (runner.remote || !runner.machines.empty()) return std::nullopt;
    auto dir = local_.directory(model.name, fingerprint);
    if (!state::SlotCacheFiles::prepare(dir, model.server.model_path)) return std::nullopt;
    return dir;
}

asio::awaitable<void> SlotCacheKeeper::save(std::shared_ptr<supervisor::Instance> instance) {
    if (!instance->server.slot_save_path) co_return;
    const std::string dir = *instance->server.slot_save_path;
    const auto started = clock::now();
    ServerCalls server(*instance, started + config_.timeout);
    if (!server.valid()) co_return;
    auto slots = co_await server.slots();
    if (!slots) {
        log()->warn("{}: prompt caches not saved: {}", instance->model, server.error);
        metrics_.slot_cache(instance->model, "save", false, 0);
        co_return;
    }
    int32_t saved = 0;
    int64_t tokens = 0, bytes = 0;
    std::string failure;
    std::vector<std::string> unusable;           // files a save did not finish: never restored
    std::map<int32_t, std::string> saved_files;  // slot -> its new file (the older ones go)
    for (const auto& s : *slots) {
        const auto* slot = s.if_object();
        if (!slot) continue;
        const auto* processing = slot->if_contains("is_processing");
        if ((processing && processing->is_bool() && processing->get_bool()) || integer(*slot, "n_prompt_tokens") <= 0) continue;
        const auto id = integer(*slot, "id");
        const auto name = state::SlotCacheFiles::file_name(static_cast<int32_t>(id), instance->server.instance_id);
        auto answer = co_await server.call("POST", slot_target(id, "save"), file_body(name));
        const auto* result = answer ? answer->if_object() : nullptr;
        if (!result) {
            failure = answer ? "no object in the answer" : server.error;
            metrics_.slot_cache(instance->model, "save", false, 0);
            unusable.push_back(dir + "/" + name);
            if (server.out_of_time) break;
            continue;
        }
        const auto n_saved = integer(*result, "n_saved");
        if (n_saved <= 0) {
            unusable.push_back(dir + "/" + name);
            continue;
        }
        saved_files[static_cast<int32_t>(id)] = name;
        metrics_.slot_cache(instance->model, "save", true, static_cast<uint64_t>(n_saved));
        ++saved;
        tokens += n_saved;
        bytes += integer(*result, "n_written");
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
    if (!failure.empty()) log()->warn("{}: a prompt cache was not saved: {}", instance->model, failure);
    if (saved > 0) {
        log()->info("{}: saved the prompt caches of {} slot(s) ({} tokens, {}) in {} ms", instance->model, saved, tokens,
                    config::format_size(static_cast<uint64_t>(bytes)), ms);
        events_.publish({{"type", "kv_cache"},
                         {"action", "save"},
                         {"model", instance->model},
                         {"instance", instance->server.instance_id},
                         {"slots", saved},
                         {"tokens", tokens},
                         {"bytes", bytes},
                         {"ms", ms}});
    }
    uint64_t pruned = 0;
    const auto files = files_of(instance->runner);
    const auto max_disk = config_.max_disk;  // read here: a reload may change config_ meanwhile
    try {
        // Only references in the lambda: GCC 12 destroys a co_await operand's non-trivial
        // temporaries twice (a capture by value of `files` here was a double free).
        co_await on_workers(workers_, [&] {
            for (const auto& file : unusable) files.remove(file);
            files.drop_older(dir, saved_files);
            pruned = files.prune(max_disk);
        });
    } catch (const std::exception& e) {
        log()->warn("{}: cannot tidy the saved prompt caches in {}: {}", instance->model, dir, e.what());
    }
    if (pruned) metrics_.slot_cache_pruned(pruned);
}

asio::awaitable<void> SlotCacheKeeper::restore(std::shared_ptr<supervisor::Instance> instance) {
    if (!instance->server.slot_save_path) co_return;
    const std::string dir = *instance->server.slot_save_path;
    const auto disk = files_of(instance->runner);
    std::map<int32_t, state::SlotCacheFile> files;
    try {
        co_await on_workers(workers_, [&] { files = disk.newest(dir); });
    } catch (const std::exception& e) {
        log()->warn("{}: prompt caches not restored: cannot list {}: {}", instance->model, dir, e.what());
        metrics_.slot_cache(instance->model, "restore", false, 0);
        co_return;
    }
    if (files.empty()) co_return;
    const auto started = clock::now();
    ServerCalls server(*instance, started + config_.timeout);
    if (!server.valid()) co_return;
    auto slots = co_await server.slots();
    if (!slots) {
        log()->warn("{}: prompt caches not restored: {}", instance->model, server.error);
        metrics_.slot_cache(instance->model, "restore", false, 0);
        co_return;
    }
    const auto count = static_cast<int32_t>(slots->size());
    int32_t restored = 0;
    int64_t tokens = 0;
    std::string failure;
    std::vector<std::string> used;
    for (const auto& [slot, file] : files) {
        if (slot >= count) continue;  // saved by a server with more slots
        auto answer = co_await server.call("POST", slot_target(slot, "restore"), file_body(file.name));
        const auto* result = answer ? answer->if_object() : nullptr;
        if (!result) {
            failure = answer ? "no object in the answer" : server.error;
            metrics_.slot_cache(instance->model, "restore", false, 0);
            if (server.out_of_time) break;
            continue;
        }
        used.push_back(dir + "/" + file.name);
        const auto n_restored = integer(*result, "n_restored");
        metrics_.slot_cache(instance->model, "restore", true, static_cast<uint64_t>(std::max<int64_t>(0, n_restored)));
        ++restored;
        tokens += n_restored;
    }
    if (!used.empty()) {
        try {
            co_await on_workers(workers_, [&] {
                for (const auto& file : used) disk.touch(file);
            });
        } catch (const std::exception& e) {
            log()->debug("{}: cannot mark the restored caches used: {}", instance->model, e.what());
        }
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
    if (!failure.empty()) log()->warn("{}: a prompt cache was not restored: {}", instance->model, failure);
    if (restored > 0) {
        log()->info("{}: restored the prompt caches of {} slot(s) ({} tokens) in {} ms", instance->model, restored, tokens, ms);
        events_.publish({{"type", "kv_cache"},
                         {"action", "restore"},
                         {"model", instance->model},
                         {"instance", instance->server.instance_id},
                         {"slots", restored},
                         {"tokens", tokens},
                         {"ms", ms}});
    }
}

}  // namespace corral::serve
