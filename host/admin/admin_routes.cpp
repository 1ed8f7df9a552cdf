#include "admin/admin_routes.hpp"

#include "crypto/sha256.hpp"
#include "proxy/forward.hpp"

#include <corral/sdk/version.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace corral::admin {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using clock = std::chrono::steady_clock;
using proxy::Exchange;

constexpr std::chrono::seconds kHeartbeat{15};

std::string sse(const boost::json::value& v) {
    return "data: " + boost::json::serialize(v) + "\n\n";
}

bool is_model_event(const boost::json::object& e, const std::string& model) {
    const auto* m = e.if_contains("model");
    return m && m->is_string() && m->get_string() == model;
}

}  // namespace

namespace {

boost::json::object placement_json(const scheduler::Reservation& p) {
    boost::json::array devices;
    boost::json::object by_device;
    for (const auto& [id, bytes] : p.devices) {
        devices.push_back(boost::json::value(id));
        by_device[id] = bytes;
    }
    return {{"machine", p.machine}, {"devices", devices}, {"memory_by_device", by_device}, {"ram", p.ram}};
}

// The fields a model and each of its replicas share, where they have a value.
void put_server_fields(boost::json::object& o, const scheduler::ServerStatus& s) {
    if (!s.message.empty()) o["message"] = s.message;
    if (!s.instance_id.empty()) o["instance"] = s.instance_id;
    if (!s.endpoint.empty()) o["endpoint"] = s.endpoint;
    if (s.pid) o["pid"] = *s.pid;
    if (s.idle_seconds) o["idle_seconds"] = *s.idle_seconds;
    if (s.uptime_seconds) o["uptime_seconds"] = *s.uptime_seconds;
    if (s.adopted) o["adopted"] = true;
    if (s.placement) o["placement"] = placement_json(*s.placement);
    if (!s.runner_details.empty()) o["runner_details"] = s.runner_details;
}

boost::json::object to_json(const scheduler::ReplicaStatus& r) {
    boost::json::object o{{"index", r.index}, {"name", r.name},           {"runner", r.runner},
                          {"state", r.state}, {"in_flight", r.in_flight}, {"restarts", r.restarts}};
    put_server_fields(o, r);
    return o;
}

}  // namespace

boost::json::object to_json(const scheduler::ModelStatus& s) {
    boost::json::array aliases;
    for (const auto& a : s.aliases) aliases.push_back(boost::json::value(a));
    boost::json::object o{{"name", s.name},           {"aliases", aliases}, {"runner", s.runner}, {"state", s.state},
                          {"in_flight", s.in_flight}, {"queued", s.queued}, {"memory", s.memory}, {"memory_source", s.memory_source},
                          {"restarts", s.restarts}};
    put_server_fields(o, s);
    boost::json::array replicas;
    for (const auto& r : s.replicas) replicas.push_back(to_json(r));
    o["replicas"] = std::move(replicas);
    o["max_replicas"] = s.max_replicas;
    if (s.from_models_dir) o["from_models_dir"] = true;
    if (s.ttl_seconds) {
        o["ttl_seconds"] = *s.ttl_seconds;
        // An idle model unloads when its idle time reaches its ttl.
        if (s.idle_seconds) o["unload_in_seconds"] = std::max(0.0, *s.ttl_seconds - *s.idle_seconds);
    }
    return o;
}

boost::json::object to_json(const scheduler::MachineStatus& s) {
    const auto& m = *s.machine;
    boost::json::array devices;
    for (std::size_t i = 0; i < m.devices.size(); ++i) {
        const auto& d = m.devices[i];
        const uint64_t reserved = s.ledger.device_reserved[i];
        devices.push_back(boost::json::object{{"id", d.id},
                                              {"kind", d.kind},
                                              {"name", d.name},
                                              {"uuid", d.uuid},
                                              {"memory_total", d.memory_total},
                                              {"memory_capacity", d.capacity},
                                              {"memory_reserved", reserved},
                                              {"memory_free", d.capacity > reserved ? d.capacity - reserved : 0}});
    }
    boost::json::array runners;
    for (const auto& r : s.runners) runners.push_back(boost::json::value(r));
    boost::json::object o{{"name", m.name},
                          {"runner", s.runners.size() == 1 && m.name != scheduler::kLocalMachine ? boost::json::value(s.runners.front())
                                                                                                 : boost::json::value(nullptr)},
                          {"runners", runners},
                          {"devices", devices},
                          {"ram_total", m.ram_total},
                          {"ram_capacity", m.ram_capacity ? boost::json::value(*m.ram_capacity) : boost::json::value(nullptr)},
                          {"ram_reserved", s.ledger.ram_reserved},
                          {"memory_reserved", s.ledger.total_reserved},
                          {"capacity_managed_elsewhere", m.managed_elsewhere}};
    if (m.overall_cap) o["memory_budget"] = *m.overall_cap;
    return o;
}

boost::json::object AdminRoutes::status_json() const {
    boost::json::array models;
    uint64_t used = 0;
    for (const auto& s : scheduler_.status()) {
        for (const auto& r : s.replicas) {
            if (r.state != "queued") used += s.memory;
        }
        models.push_back(to_json(s));
    }
    boost::json::object o{{"version", CORRAL_SDK_VERSION},
                          {"uptime_seconds", std::chrono::duration<double>(clock::now() - started_).count()},
                          {"draining", hooks_.draining && hooks_.draining()},
                          {"memory_used", used},
                          {"models", models}};
    boost::json::array machines;
    for (const auto& m : scheduler_.machine_status()) machines.push_back(to_json(m));
    o["machines"] = std::move(machines);
    auto budget = scheduler_.memory_budget();
    o["memory_budget"] = budget ? boost::json::value(*budget) : boost::json::value(nullptr);
    if (scheduler_.config().scheduler.max_loaded) o["max_loaded"] = *scheduler_.config().scheduler.max_loaded;
    boost::json::array dirs;
    for (const auto& d : scheduler_.config().models_dirs) dirs.push_back(boost::json::value(d.string()));
    o["models_dirs"] = std::move(dirs);  // where POST /corral/models/pull may save
    return o;
}

asio::awaitable<void> AdminRoutes::health(Exchange& ex) {
    const bool draining = hooks_.draining && hooks_.draining();
    boost::json::object body;
    body["status"] = draining ? "draining" : "ok";
    co_await ex.write_json(draining ? http::status::service_unavailable : http::status::ok, body);
}

asio::awaitable<void> AdminRoutes::metrics(Exchange& ex) {
    auto budget = scheduler_.memory_budget();
    std::vector<admin::DeviceGauges> devices;
    for (const auto& s : scheduler_.machine_status()) {
        for (std::size_t i = 0; i < s.machine->devices.size(); ++i) {
            const auto& d = s.machine->devices[i];
            devices.push_back({s.machine->name, d.id, d.capacity, s.ledger.device_reserved[i]});
        }
        devices.push_back({s.machine->name, "ram", s.machine->ram_capacity.value_or(0), s.ledger.ram_reserved});
    }
    co_await ex.write_text(
        http::status::ok,
        metrics_.render(scheduler_.gauges(), devices, budget ? *budget : 0, hooks_.connections ? hooks_.connections() : 0),
        "text/plain; version=0.0.4; charset=utf-8");
}

asio::awaitable<void> AdminRoutes::handle(Exchange& ex) {
    const std::string path(ex.path());
    const auto method = ex.request.method();
    if (path == "/corral/status" && method == http::verb::get) {
        co_await ex.write_json(http::status::ok, status_json());
        co_return;
    }
    if (path == "/corral/activity" && method == http::verb::get) {
        co_await ex.write_json(http::status::ok, metrics_.activity().to_json(clock::now()));
        co_return;
    }
    if (path == "/corral/events" && method == http::verb::get) {
        co_await events(ex);
        co_return;
    }
    if (path == "/corral/reload" && method == http::verb::post) {
        co_await reload(ex);
        co_return;
    }
    if (path == "/corral/models/pull" && method == http::verb::post) {
        co_await pull(ex);
        co_return;
    }
    constexpr std::string_view pulls_prefix = "/corral/pulls/";
    if (path.rfind(pulls_prefix, 0) == 0 && method == http::verb::delete_) {
        const auto id_text = path.substr(pulls_prefix.size());
        uint64_t id = 0;
        const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
        if (ec != std::errc() || end != id_text.data() + id_text.size() || !pulls_.stop(id)) {
            co_await ex.write_error(404, "No pull `" + id_text + "` is under way (GET /corral/pulls lists them).", "invalid_request_error",
                                    "not_found");
            co_return;
        }
        boost::json::object body;
        body["id"] = id;
        body["stopping"] = true;
        co_await ex.write_json(http::status::ok, body);
        co_return;
    }
    if (path == "/corral/pulls" && method == http::verb::get) {
        boost::json::object body;
        body["pulls"] = pulls_.running();
        co_await ex.write_json(http::status::ok, body);
        co_return;
    }
    constexpr std::string_view models_prefix = "/corral/models/";
    if (path.rfind(models_prefix, 0) == 0 && method == http::verb::post) {
        auto rest = std::string_view(path).substr(models_prefix.size());
        auto slash = rest.rfind('/');
        auto name = slash == std::string_view::npos ? std::nullopt : proxy::url_decode(rest.substr(0, slash));
        auto action = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (name && action == "load") {
            co_await load(ex, *name);
            co_return;
        }
        if (name && action == "unload") {
            co_await unload(ex, *name);
            co_return;
        }
    }
    constexpr std::string_view logs_prefix = "/corral/logs/";
    if (path.rfind(logs_prefix, 0) == 0 && method == http::verb::get) {
        if (auto name = proxy::url_decode(std::string_view(path).substr(logs_prefix.size()))) {
            co_await logs(ex, *name);
            co_return;
        }
    }
    co_await ex.write_error(404, "No admin route " + std::string(ex.request.method_string()) + " " + path, "invalid_request_error",
                            "not_found");
}

asio::awaitable<void> AdminRoutes::load(Exchange& ex, const std::string& model) {
    auto sub = events_.subscribe(false);  // before the load starts, so its "starting" event is seen
    if (auto refusal = scheduler_.load(model)) {
        co_await ex.write_error(refusal->status, refusal->message, refusal->type, refusal->code, refusal->retry_after);
        co_return;
    }
    auto entry = scheduler_.find(model);
    const std::string name = entry->config.name;
    auto current = [&] { return scheduler_.describe(*entry); };
    if (ex.query("wait").value_or("1") == "0") {
        co_await ex.write_json(http::status::accepted, to_json(current()));
        co_return;
    }
    const bool progress = ex.request[http::field::accept].find("text/event-stream") != boost::beast::string_view::npos;
    if (progress) co_await ex.write_stream_header("text/event-stream", false);
    const auto deadline = clock::now() + scheduler_.config().scheduler.load_timeout;
    for (;;) {
        (*sub)->signal.rearm();
        while (!(*sub)->pending.empty()) {
            auto event = std::move((*sub)->pending.front());
            (*sub)->pending.pop_front();
            if (progress && is_model_event(event, name)) co_await ex.write_chunk(sse(event));
        }
        auto s = current();
        const bool ready = s.state == "ready" || s.state == "unhealthy";
        const bool failed = s.state == "unloaded" || s.state == "failed";
        const bool timed_out = clock::now() >= deadline;
        if (ready || failed || timed_out) {
            std::string message = ready ? name + " is ready" : failed ? s.message : name + " is not ready after scheduler.load_timeout";
            if (progress) {
                boost::json::object result;
                result["type"] = "result";
                result["ok"] = ready;
                result["model"] = name;
                result["message"] = message;
                co_await ex.write_chunk(sse(result));
                co_await ex.write_last_chunk();
            } else if (ready) {
                co_await ex.write_json(http::status::ok, to_json(s));
            } else {
                co_await ex.write_error(failed ? 502 : 504, "Loading `" + name + "` failed: " + message, "server_error",
                                        failed ? "model_failed" : "model_load_timeout");
            }
            co_return;
        }
        co_await (*sub)->signal.wait(deadline);
    }
}

asio::awaitable<void> AdminRoutes::unload(Exchange& ex, const std::string& model) {
    if (auto refusal = scheduler_.unload(model)) {
        co_await ex.write_error(refusal->status, refusal->message, refusal->type, refusal->code, refusal->retry_after);
        co_return;
    }
    auto entry = scheduler_.find(model);
    auto sub = events_.subscribe(false);
    const auto deadline = clock::now() + scheduler_.config().supervisor.stop_grace + std::chrono::seconds(5);
    while (entry->loaded() && clock::now() < deadline) {
        (*sub)->signal.rearm();
        (*sub)->pending.clear();
        co_await (*sub)->signal.wait(deadline);
    }
    co_await ex.write_json(http::status::ok, to_json(scheduler_.describe(*entry)));
}

asio::awaitable<void> AdminRoutes::events(Exchange& ex) {
    auto sub = events_.subscribe(ex.query("replay").value_or("0") == "1");
    co_await ex.write_stream_header("text/event-stream", false);
    co_await ex.write_chunk(": corral events\n\n");
    for (;;) {
        (*sub)->signal.rearm();
        std::string batch;
        while (!(*sub)->pending.empty()) {
            batch += sse((*sub)->pending.front());
            (*sub)->pending.pop_front();
        }
        if ((*sub)->overflowed) {
            batch += sse({{"type", "overflow"}, {"message", "this subscriber fell behind; events were dropped"}});
            co_await ex.write_chunk(batch);
            co_await ex.write_last_chunk();
            co_return;
        }
        if (!batch.empty()) co_await ex.write_chunk(batch);
        if (!co_await (*sub)->signal.wait(clock::now() + kHeartbeat)) co_await ex.write_chunk(": heartbeat\n\n");
    }
}

asio::awaitable<void> AdminRoutes::logs(Exchange& ex, const std::string& name) {
    std::shared_ptr<supervisor::Instance> instance = supervisor_.find(name);
    if (!instance) {
        if (auto entry = scheduler_.find(name)) {
            instance = entry->instance() ? entry->instance() : entry->last_instance;
        } else if (auto hash = name.rfind('#'); hash != std::string::npos) {  // one replica: "model#1"
            auto model = scheduler_.find(std::string_view(name).substr(0, hash));
            const auto index = std::atoi(name.c_str() + hash + 1);
            if (model && index > 0 && static_cast<std::size_t>(index) < model->replicas.size())
                instance = model->replicas[static_cast<std::size_t>(index)]->instance;
        }
    }
    if (!instance) {
        co_await ex.write_error(404, "No model or instance `" + name + "` has run yet.", "invalid_request_error", "not_found");
        co_return;
    }
    std::size_t lines = 200;
    if (auto n = ex.query("lines")) {
        char* end = nullptr;
        unsigned long parsed = std::strtoul(n->c_str(), &end, 10);
        if (n->empty() || *end != '\0') {
            co_await ex.write_error(400, "`lines` must be a number", "invalid_request_error", "invalid_parameter");
            co_return;
        }
        lines = parsed;
    }
    const bool follow = ex.query("follow").value_or("0") == "1";
    auto render = [](const supervisor::LogBuffer::Line& l) { return l.text + "\n"; };
    const auto& logs = instance->logs;
    std::string text;
    for (std::size_t i = logs.size() > lines ? logs.size() - lines : 0; i < logs.size(); ++i) text += render(logs.at(i));
    uint64_t next = instance->logs.next_seq();
    if (!follow) {
        co_await ex.write_text(http::status::ok, std::move(text));
        co_return;
    }
    auto signal = std::make_shared<serve::AsyncSignal>(co_await asio::this_coro::executor);
    instance->logs.add_follower(signal);
    struct Unfollow {
        supervisor::LogBuffer& logs;
        std::shared_ptr<serve::AsyncSignal> s;
        ~Unfollow() { logs.remove_follower(s); }
    } unfollow{instance->logs, signal};
    co_await ex.write_stream_header("text/plain; charset=utf-8", false);
    co_await ex.write_chunk(text);
    for (;;) {
        signal->rearm();
        std::string batch;
        for (std::size_t i = 0; i < instance->logs.size(); ++i) {
            if (const auto& l = instance->logs.at(i); l.seq >= next) batch += render(l);
        }
        next = instance->logs.next_seq();
        co_await ex.write_chunk(batch);
        if (instance->gone()) break;
        co_await signal->wait();
    }
    co_await ex.write_last_chunk();
}

asio::awaitable<void> AdminRoutes::reload(Exchange& ex) {
    auto outcome = hooks_.reload ? hooks_.reload() : ReloadOutcome{};
    if (!outcome.applied) {
        boost::json::array errors;
        std::string summary;
        for (const auto& [path, message] : outcome.errors) {
            errors.push_back({{"path", path}, {"message", message}});
            summary += (summary.empty() ? "" : "; ") + (path.empty() ? message : path + ": " + message);
        }
        auto body = proxy::openai_error("The new configuration is invalid; the old one keeps serving: " + summary, "invalid_request_error",
                                        "invalid_config");
        body.as_object()["errors"] = errors;
        co_await ex.write_json(http::status::bad_request, body);
        co_return;
    }
    boost::json::array notes;
    for (const auto& n : outcome.notes) notes.push_back(boost::json::value(n));
    boost::json::object body;
    body["reloaded"] = true;
    body["notes"] = std::move(notes);
    co_await ex.write_json(http::status::ok, body);
}

namespace {

// The pull a request body asks for, or why it cannot be one.
struct PullAsk {
    std::optional<pull::PullOptions> options;
    std::string error, code;
    int status = 400;
};

PullAsk read_pull_request(const std::string& body, const config::Config& config) {
    auto bad = [](std::string message, std::string code = "invalid_parameter", int status = 400) {
        PullAsk a;
        a.error = std::move(message);
        a.code = std::move(code);
        a.status = status;
        return a;
    };
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(body, ec);
    if (ec || !parsed.is_object())
        return bad("The body must be a JSON object such as {\"source\": \"hf:ORG/REPO/FILE.gguf\"}.", "invalid_json");
    const auto& o = parsed.get_object();
    auto text = [&](const char* key) -> std::optional<std::string> {
        const auto* v = o.if_contains(key);
        if (!v || v->is_null()) return std::nullopt;
        if (!v->is_string()) throw std::invalid_argument(std::string("`") + key + "` must be a string");
        return std::string(v->get_string());
    };
    pull::PullOptions options;
    try {
        for (const auto& [key, value] : o) {
            if (key != "source" && key != "sha256" && key != "name" && key != "dir") {
                return bad("Unknown field `" + std::string(key) + "` (source, sha256, name, dir).");
            }
        }
        const auto source = text("source");
        if (!source) return bad("`source` is required: an http(s) URL or hf:ORG/REPO/FILE.gguf[@REVISION].");
        const char* endpoint = std::getenv("HF_ENDPOINT");
        options.source = pull::parse_pull_source(*source, endpoint ? endpoint : "");
        options.file_name = pull::target_file_name(options.source, text("name"));
        if (auto hex = text("sha256")) {
            options.expected_sha256 = crypto::normalized_sha256_hex(*hex);
            if (!options.expected_sha256) return bad("`sha256` must be 64 hex digits.");
            if (pull::files_to_pull(options.source, options.file_name).size() > 1) {
                return bad("`source` is a part of a split model, whose parts each have their own digest: `sha256` names one file.");
            }
        }
        if (config.models_dirs.empty()) {
            return bad("No models_dir is configured: pulled files are served from a models_dir folder.", "no_models_dir", 409);
        }
        options.dir = config.models_dirs.front();
        if (auto dir = text("dir")) {
            const auto wanted = std::filesystem::path(*dir).lexically_normal();
            auto it = std::find_if(config.models_dirs.begin(), config.models_dirs.end(),
                                   [&](const std::filesystem::path& d) { return d.lexically_normal() == wanted; });
            if (it == config.models_dirs.end()) return bad("`dir` must be one of the configured models_dir folders.");
            options.dir = *it;
        }
    } catch (const std::invalid_argument& e) {  // SourceError too
        return bad(e.what());
    }
    const char* token = std::getenv("HF_TOKEN");
    if (token) options.hf_token = token;
    options.progress_interval = std::chrono::milliseconds(500);
    PullAsk a;
    a.options = std::move(options);
    return a;
}

int status_of_failure(const std::string& code) {
    if (code == "no_space") return 507;
    if (code == "io") return 500;
    if (code == "exists") return 409;
    if (code == "cancelled") return 503;
    return 502;  // the source failed us: not found, refused, TLS, network, a wrong digest
}

}  // namespace

asio::awaitable<void> AdminRoutes::pull(Exchange& ex) {
    auto ask = read_pull_request(ex.request.body(), scheduler_.config());
    if (!ask.options) {
        co_await ex.write_error(ask.status, ask.error, "invalid_request_error", ask.code);
        co_return;
    }
    if (hooks_.draining && hooks_.draining()) {
        co_await ex.write_error(503, "corral is shutting down.", "server_error", "draining");
        co_return;
    }
    auto sub = events_.subscribe(false);  // before the pull starts, so none of its events is missed
    auto started = pulls_.start(std::move(*ask.options));
    if (auto* refused = std::get_if<pull::PullJobs::Refused>(&started)) {
        co_await ex.write_error(refused->status, refused->message, "invalid_request_error", refused->code);
        co_return;
    }
    const uint64_t id = std::get<uint64_t>(started);
    if (ex.query("wait").value_or("1") == "0") {
        boost::json::object body;
        body["id"] = id;
        body["events"] = "/corral/events";
        co_await ex.write_json(http::status::accepted, body);
        co_return;
    }
    const bool progress = ex.request[http::field::accept].find("text/event-stream") != boost::beast::string_view::npos;
    if (progress) co_await ex.write_stream_header("text/event-stream", false);
    // The pull bounds its own waits (connect timeout, stall limit, retries); a client that goes away
    // leaves it running, reported on /corral/events.
    for (;;) {
        (*sub)->signal.rearm();
        std::string batch;
        while (!(*sub)->pending.empty()) {
            auto event = std::move((*sub)->pending.front());
            (*sub)->pending.pop_front();
            const auto* type = event.if_contains("type");
            const auto* event_id = event.if_contains("id");
            if (!type || *type != "pull" || !event_id || event_id->to_number<uint64_t>() != id) continue;
            const bool ended = event.at("event") == "done" || event.at("event") == "error";
            if (progress) batch += sse(event);
            if (!ended) continue;
            if (progress) {
                co_await ex.write_chunk(batch);
                co_await ex.write_last_chunk();
            } else if (event.at("event") == "done") {
                co_await ex.write_json(http::status::ok, event);
            } else {
                const std::string code(event.at("code").as_string());
                auto body = proxy::openai_error("Pull failed: " + std::string(event.at("error").as_string()), "server_error", code);
                body.as_object()["pull"] = event;
                co_await ex.write_json(static_cast<http::status>(status_of_failure(code)), body);
            }
            co_return;
        }
        if ((*sub)->overflowed) {  // the pull goes on; this answer cannot follow it any more
            const std::string why = "This request fell behind the pull's events; /corral/pulls and /corral/events tell how it goes.";
            if (progress) {  // the stream has begun: end it with an event, not an HTTP error
                batch += sse({{"type", "overflow"}, {"message", why}});
                co_await ex.write_chunk(batch);
                co_await ex.write_last_chunk();
            } else {
                co_await ex.write_error(500, why, "server_error", "overflow");
            }
            co_return;
        }
        if (progress && !batch.empty()) co_await ex.write_chunk(batch);
        if (!co_await (*sub)->signal.wait(clock::now() + kHeartbeat) && progress) co_await ex.write_chunk(": heartbeat\n\n");
    }
}

}  // namespace corral::admin
