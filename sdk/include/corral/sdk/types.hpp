// corral SDK: the typed data that crosses the plugin ABI, and its JSON form.
//
// Each struct documents its JSON members; to_json() writes them and from_json<T>() reads them
// strictly (wrong types are ProcessError::Configuration naming the JSON path). Optional members
// are omitted when empty. Times are milliseconds since the Unix epoch; sizes are bytes.
#pragma once

#include <corral/sdk/json.hpp>

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::sdk {

// Default sampling parameters passed to the server (llama-server's --temp, --top-k, ...).
struct SamplingDefaults {
    std::optional<double> temperature;
    std::optional<int32_t> top_k;
    std::optional<double> top_p;
    std::optional<double> min_p;
    std::optional<double> repeat_penalty;

    bool empty() const { return !temperature && !top_k && !top_p && !min_p && !repeat_penalty; }
};

// How to start one model server. JSON members carry the same names as the fields.
struct ServerConfig {
    std::string instance_id;         // chosen by the host, unique for the host's lifetime; events carry it
    std::string model_id;            // the model's key in the config file
    std::string model_name;          // the name clients use (often == model_id)
    std::string model_path;          // GGUF path as the runner sees it
    std::optional<uint16_t> port;    // empty: the runner allocates a free port
    std::string host = "127.0.0.1";  // address the server binds
    std::optional<uint32_t> ctx_size;
    std::optional<std::string> gpu_layers;  // "auto", "all" or a layer count
    // Set by the host when gpu_layers is "auto": corral's own layer plan from the GGUF and the probes,
    // for servers that cannot fit themselves, and the MiB to leave free on each GPU for those that
    // can (llama-server --fit-target).
    std::optional<int32_t> fit_gpu_layers;
    std::vector<uint64_t> fit_target_mib;
    std::optional<int32_t> threads;
    std::optional<int32_t> batch_size;
    std::optional<int32_t> parallel;
    std::optional<std::string> flash_attn;  // "on", "off" or "auto"
    std::optional<bool> mlock;
    std::optional<bool> mmap;
    std::optional<std::string> cache_type_k;
    std::optional<std::string> cache_type_v;
    std::optional<bool> jinja;
    std::optional<std::string> reasoning_format;
    std::optional<int32_t> reasoning_budget;
    std::optional<int64_t> seed;
    SamplingDefaults sampling;
    std::map<std::string, std::string> env;  // added to the server's environment
    // Set by the host when it placed the server on GPUs: their ids on the server's machine ("cuda:0",
    // "vulkan:1", in the order the server sees them; the environment already hides the others), and
    // for a split the share of each (llama-server --tensor-split). Empty: not placed on GPUs.
    std::vector<std::string> devices;
    std::vector<double> tensor_split;
    std::vector<std::string> extra_args;  // appended verbatim to the server's arguments
    boost::json::object runner_options;   // per-model options for the runner plugin
    // Whether the host reads the server's memory use from its output (llama-server prints its buffer
    // sizes only at --log-verbosity 4, which also slows a busy server). False when the host does not
    // need it (the model's memory is given by hand): runners then keep the server's own verbosity.
    bool measure_memory = true;
    // Set by the host for a runner with CORRAL_CAP_SLOT_CACHE: a directory where the server may save
    // and restore its slots' prompt caches (llama-server --slot-save-path): on corral's machine, or
    // under the runner's slot_cache_root() when it has one (the runner then creates the directory).
    // The host saves them there before it stops an idle server and restores them when it starts again.
    std::optional<std::string> slot_save_path;
};

// A running server, as the runner reports it. runner_data is the runner's own JSON, kept by the
// host in instance records so a later host can adopt() the server.
struct ProcessHandle {
    std::string instance_id;
    std::string model_name;
    std::string runner;          // the runner plugin's name
    std::optional<int64_t> pid;  // when the server is a local process
    // Where the host reaches the server: a base URL such as http://127.0.0.1:41234, or a Unix
    // socket on the host's machine as unix:///absolute/path.sock (plain HTTP either way).
    std::string endpoint;
    int64_t started_at_ms = 0;       // JSON: "started_at"
    boost::json::value runner_data;  // opaque to the host
};

enum class HealthState { Loading, Ok, Error, Unreachable };

constexpr std::string_view to_string(HealthState s) noexcept {
    switch (s) {
        case HealthState::Loading:
            return "loading";
        case HealthState::Ok:
            return "ok";
        case HealthState::Error:
            return "error";
        case HealthState::Unreachable:
            return "unreachable";
    }
    return "error";
}

struct ServerHealth {
    HealthState state = HealthState::Unreachable;
    std::optional<int32_t> http_status;  // status of the server's /health answer, if one came
    std::string message;
};

// One compute device a probe found.
struct DeviceInfo {
    std::string backend;  // "cuda", "vulkan", "metal" or "cpu"
    int32_t index = 0;    // index as the backend's servers will number it
    std::string name;
    std::string type;  // "discrete", "integrated", "cpu", "virtual" or ""
    std::string uuid;
    std::string driver;
    std::string compute_capability;  // e.g. "8.9" for CUDA
    std::string pci_bus_id;
    uint64_t memory_total = 0;            // what the backend's programs can allocate (less driver reserves)
    std::optional<uint64_t> memory_free;  // empty when the backend cannot tell
    std::optional<uint64_t> memory_used;  // by every process, where the backend tells
    bool unified = false;                 // memory shared with the CPU
    std::optional<double> utilization;    // 0..1 when known
};

struct SystemInfo {
    uint64_t ram_total = 0;
    uint64_t ram_available = 0;
    std::string cpu_model;
    int32_t cpu_cores = 0;    // physical cores
    int32_t cpu_threads = 0;  // logical CPUs this process may use
};

struct ProbeReport {
    std::string backend;
    bool available = false;
    std::string reason;  // why not available (or notes when it is)
    std::vector<DeviceInfo> devices;
    std::optional<SystemInfo> system;  // filled by the cpu probe
};

// A machine a runner's servers run on (ABI 1.1, ProcessRunner::machines): what it has, in the shape
// the host's own probes report (devices per backend; RAM in the cpu report's system).
struct MachineInfo {
    std::string name;                         // unique among the host's machines, e.g. the ssh host
    bool capacity_managed_elsewhere = false;  // a cluster scheduler places the servers: no ledger here
    std::vector<ProbeReport> reports;
};

// A file on the disk a runner's servers keep prompt caches on (ABI 1.2, ProcessRunner::list_files).
struct StoredFile {
    std::string path;  // relative to the listed directory, '/'-separated
    uint64_t bytes = 0;
    int64_t modified_ms = 0;  // last modification, Unix time in milliseconds
};

template <class T>
T from_json(const boost::json::value& v, const std::string& path);

// ---- JSON mapping ---------------------------------------------------------------------------

inline boost::json::value to_json(const SamplingDefaults& s) {
    boost::json::object o;
    put_optional(o, "temperature", s.temperature);
    put_optional(o, "top_k", s.top_k);
    put_optional(o, "top_p", s.top_p);
    put_optional(o, "min_p", s.min_p);
    put_optional(o, "repeat_penalty", s.repeat_penalty);
    return o;
}

template <>
inline SamplingDefaults from_json<SamplingDefaults>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    SamplingDefaults s;
    r.optional("temperature", s.temperature);
    r.optional("top_k", s.top_k);
    r.optional("top_p", s.top_p);
    r.optional("min_p", s.min_p);
    r.optional("repeat_penalty", s.repeat_penalty);
    return s;
}

inline boost::json::value to_json(const ServerConfig& c) {
    boost::json::object o;
    o["instance_id"] = c.instance_id;
    o["model_id"] = c.model_id;
    o["model_name"] = c.model_name;
    o["model_path"] = c.model_path;
    put_optional(o, "port", c.port);
    o["host"] = c.host;
    put_optional(o, "ctx_size", c.ctx_size);
    put_optional(o, "gpu_layers", c.gpu_layers);
    put_optional(o, "fit_gpu_layers", c.fit_gpu_layers);
    if (!c.fit_target_mib.empty()) o["fit_target_mib"] = boost::json::value_from(c.fit_target_mib);
    put_optional(o, "threads", c.threads);
    put_optional(o, "batch_size", c.batch_size);
    put_optional(o, "parallel", c.parallel);
    put_optional(o, "flash_attn", c.flash_attn);
    put_optional(o, "mlock", c.mlock);
    put_optional(o, "mmap", c.mmap);
    put_optional(o, "cache_type_k", c.cache_type_k);
    put_optional(o, "cache_type_v", c.cache_type_v);
    put_optional(o, "jinja", c.jinja);
    put_optional(o, "reasoning_format", c.reasoning_format);
    put_optional(o, "reasoning_budget", c.reasoning_budget);
    put_optional(o, "seed", c.seed);
    if (!c.sampling.empty()) o["sampling"] = to_json(c.sampling);
    if (!c.env.empty()) o["env"] = boost::json::value_from(c.env);
    if (!c.devices.empty()) o["devices"] = boost::json::value_from(c.devices);
    if (!c.tensor_split.empty()) o["tensor_split"] = boost::json::value_from(c.tensor_split);
    if (!c.extra_args.empty()) o["extra_args"] = boost::json::value_from(c.extra_args);
    if (!c.runner_options.empty()) o["runner_options"] = c.runner_options;
    if (!c.measure_memory) o["measure_memory"] = false;
    put_optional(o, "slot_save_path", c.slot_save_path);
    return o;
}

template <>
inline ServerConfig from_json<ServerConfig>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    ServerConfig c;
    c.instance_id = r.required<std::string>("instance_id");
    c.model_id = r.required<std::string>("model_id");
    c.model_name = r.required<std::string>("model_name");
    r.optional_or_keep("model_path", c.model_path);
    r.optional("port", c.port);
    r.optional_or_keep("host", c.host);
    r.optional("ctx_size", c.ctx_size);
    r.optional("gpu_layers", c.gpu_layers);
    r.optional("fit_gpu_layers", c.fit_gpu_layers);
    r.optional_or_keep("fit_target_mib", c.fit_target_mib);
    r.optional("threads", c.threads);
    r.optional("batch_size", c.batch_size);
    r.optional("parallel", c.parallel);
    r.optional("flash_attn", c.flash_attn);
    r.optional("mlock", c.mlock);
    r.optional("mmap", c.mmap);
    r.optional("cache_type_k", c.cache_type_k);
    r.optional("cache_type_v", c.cache_type_v);
    r.optional("jinja", c.jinja);
    r.optional("reasoning_format", c.reasoning_format);
    r.optional("reasoning_budget", c.reasoning_budget);
    r.optional("seed", c.seed);
    if (const auto* s = r.object().if_contains("sampling")) {
        c.sampling = from_json<SamplingDefaults>(*s, json_path_join(path, "sampling"));
    }
    r.optional_or_keep("env", c.env);
    r.optional_or_keep("devices", c.devices);
    r.optional_or_keep("tensor_split", c.tensor_split);
    r.optional_or_keep("extra_args", c.extra_args);
    r.optional_or_keep("runner_options", c.runner_options);
    r.optional_or_keep("measure_memory", c.measure_memory);
    r.optional("slot_save_path", c.slot_save_path);
    return c;
}

inline boost::json::value to_json(const ProcessHandle& h) {
    boost::json::object o;
    o["instance_id"] = h.instance_id;
    o["model_name"] = h.model_name;
    o["runner"] = h.runner;
    put_optional(o, "pid", h.pid);
    o["endpoint"] = h.endpoint;
    o["started_at"] = h.started_at_ms;
    if (!h.runner_data.is_null()) o["runner_data"] = h.runner_data;
    return o;
}

template <>
inline ProcessHandle from_json<ProcessHandle>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    ProcessHandle h;
    h.instance_id = r.required<std::string>("instance_id");
    r.optional_or_keep("model_name", h.model_name);
    r.optional_or_keep("runner", h.runner);
    r.optional("pid", h.pid);
    r.optional_or_keep("endpoint", h.endpoint);
    r.optional_or_keep("started_at", h.started_at_ms);
    if (const auto* d = r.object().if_contains("runner_data")) h.runner_data = *d;
    return h;
}

inline boost::json::value to_json(const ServerHealth& h) {
    boost::json::object o;
    o["state"] = to_string(h.state);
    put_optional(o, "http_status", h.http_status);
    o["message"] = h.message;
    return o;
}

template <>
inline ServerHealth from_json<ServerHealth>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    ServerHealth h;
    auto state = r.required<std::string>("state");
    if (state == "loading")
        h.state = HealthState::Loading;
    else if (state == "ok")
        h.state = HealthState::Ok;
    else if (state == "error")
        h.state = HealthState::Error;
    else if (state == "unreachable")
        h.state = HealthState::Unreachable;
    else
        throw JsonPathError(json_path_join(path, "state"), "expected one of loading, ok, error, unreachable");
    r.optional("http_status", h.http_status);
    r.optional_or_keep("message", h.message);
    return h;
}

inline boost::json::value to_json(const DeviceInfo& d) {
    boost::json::object o;
    o["backend"] = d.backend;
    o["index"] = d.index;
    o["name"] = d.name;
    o["type"] = d.type;
    o["uuid"] = d.uuid;
    o["driver"] = d.driver;
    o["compute_capability"] = d.compute_capability;
    o["pci_bus_id"] = d.pci_bus_id;
    o["memory_total"] = d.memory_total;
    put_optional(o, "memory_free", d.memory_free);
    put_optional(o, "memory_used", d.memory_used);
    o["unified"] = d.unified;
    put_optional(o, "utilization", d.utilization);
    return o;
}

template <>
inline DeviceInfo from_json<DeviceInfo>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    DeviceInfo d;
    d.backend = r.required<std::string>("backend");
    r.optional_or_keep("index", d.index);
    r.optional_or_keep("name", d.name);
    r.optional_or_keep("type", d.type);
    r.optional_or_keep("uuid", d.uuid);
    r.optional_or_keep("driver", d.driver);
    r.optional_or_keep("compute_capability", d.compute_capability);
    r.optional_or_keep("pci_bus_id", d.pci_bus_id);
    r.optional_or_keep("memory_total", d.memory_total);
    r.optional("memory_free", d.memory_free);
    r.optional("memory_used", d.memory_used);
    r.optional_or_keep("unified", d.unified);
    r.optional("utilization", d.utilization);
    return d;
}

inline boost::json::value to_json(const SystemInfo& s) {
    return boost::json::object{{"ram_total", s.ram_total},
                               {"ram_available", s.ram_available},
                               {"cpu_model", s.cpu_model},
                               {"cpu_cores", s.cpu_cores},
                               {"cpu_threads", s.cpu_threads}};
}

template <>
inline SystemInfo from_json<SystemInfo>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    SystemInfo s;
    r.optional_or_keep("ram_total", s.ram_total);
    r.optional_or_keep("ram_available", s.ram_available);
    r.optional_or_keep("cpu_model", s.cpu_model);
    r.optional_or_keep("cpu_cores", s.cpu_cores);
    r.optional_or_keep("cpu_threads", s.cpu_threads);
    return s;
}

inline boost::json::value to_json(const ProbeReport& p) {
    boost::json::object o;
    o["backend"] = p.backend;
    o["available"] = p.available;
    o["reason"] = p.reason;
    boost::json::array devices;
    for (const auto& d : p.devices) devices.push_back(to_json(d));
    o["devices"] = std::move(devices);
    if (p.system) o["system"] = to_json(*p.system);
    return o;
}

template <>
inline ProbeReport from_json<ProbeReport>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    ProbeReport p;
    p.backend = r.required<std::string>("backend");
    p.available = r.required<bool>("available");
    r.optional_or_keep("reason", p.reason);
    if (const auto* d = r.object().if_contains("devices")) {
        const auto devices_path = json_path_join(path, "devices");
        if (!d->is_array()) detail::json_type_error(devices_path, "array", *d);
        std::size_t i = 0;
        for (const auto& item : d->get_array()) p.devices.push_back(from_json<DeviceInfo>(item, json_path_index(devices_path, i++)));
    }
    if (const auto* s = r.object().if_contains("system"); s && !s->is_null()) {
        p.system = from_json<SystemInfo>(*s, json_path_join(path, "system"));
    }
    return p;
}

inline boost::json::value to_json(const MachineInfo& m) {
    boost::json::array reports;
    for (const auto& r : m.reports) reports.push_back(to_json(r));
    return boost::json::object{
        {"name", m.name}, {"capacity_managed_elsewhere", m.capacity_managed_elsewhere}, {"reports", std::move(reports)}};
}

template <>
inline MachineInfo from_json<MachineInfo>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    MachineInfo m;
    m.name = r.required<std::string>("name");
    r.optional_or_keep("capacity_managed_elsewhere", m.capacity_managed_elsewhere);
    if (const auto* list = r.object().if_contains("reports")) {
        const auto reports_path = json_path_join(path, "reports");
        if (!list->is_array()) detail::json_type_error(reports_path, "array", *list);
        std::size_t i = 0;
        for (const auto& item : list->get_array()) m.reports.push_back(from_json<ProbeReport>(item, json_path_index(reports_path, i++)));
    }
    return m;
}

inline boost::json::value to_json(const StoredFile& f) {
    return boost::json::object{{"path", f.path}, {"bytes", f.bytes}, {"modified_ms", f.modified_ms}};
}

template <>
inline StoredFile from_json<StoredFile>(const boost::json::value& v, const std::string& path) {
    FieldReader r(v, path);
    StoredFile f;
    f.path = r.required<std::string>("path");
    f.bytes = r.required<uint64_t>("bytes");
    f.modified_ms = r.required<int64_t>("modified_ms");
    return f;
}

}  // namespace corral::sdk
