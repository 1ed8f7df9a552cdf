#include "slurm_options.hpp"

#include "options.hpp"

#include <corral/sdk/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <string_view>

namespace corral::slurm {

const char* const kSlurmOptionsSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "slurm_conf": {"type": "string", "minLength": 1, "description": "SLURM_CONF for the Slurm commands (default: their own)"},
    "commands_dir": {"type": "string", "minLength": 1, "description": "directory of sbatch, squeue, scancel, sattach and sinfo (default: PATH)"},
    "job_name_prefix": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$", "description": "jobs are named <prefix><instance> (default corral-)"},
    "cluster_name": {"type": "string", "minLength": 1, "description": "the machine name corral shows for these servers (default slurm)"},
    "poll_interval_ms": {"type": "integer", "minimum": 100, "description": "how often job states are checked besides the output followers' ends (default 5000)"},
    "slot_cache_dir": {"type": "string", "pattern": "^/", "description": "absolute directory on a filesystem the nodes share with corral's machine, where servers keep prompt caches across unloads (default: none kept)"},
    "partition": {"type": "string", "description": "sbatch --partition"},
    "account": {"type": "string", "description": "sbatch --account"},
    "qos": {"type": "string", "description": "sbatch --qos"},
    "time_limit": {"type": "string", "description": "sbatch --time: minutes, [D-]HH:MM[:SS] or UNLIMITED"},
    "gpus": {"type": "integer", "minimum": 0, "description": "GPUs per server (sbatch --gres=gpu:N)"},
    "cpus": {"type": "integer", "minimum": 1, "description": "CPUs per server (sbatch --cpus-per-task)"},
    "memory": {"type": "string", "pattern": "^[0-9]+[KMGT]?$", "description": "memory per server (sbatch --mem): 512M, 16G, or MB"},
    "constraint": {"type": "string", "description": "sbatch --constraint (node features)"},
    "sbatch_args": {"type": "array", "items": {"type": "string", "pattern": "^--"}, "description": "more sbatch options, --name[=value]"},
    "binary": {"type": "string", "minLength": 1, "description": "llama-server as the nodes see it (default llama-server from their PATH)"},
    "working_dir": {"type": "string", "minLength": 1, "description": "the job's working directory on its node (default /tmp)"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "added to the server's environment"},
    "extra_args": {"type": "array", "items": {"type": "string"}, "description": "arguments added to every server"},
    "port_range": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}, "minItems": 2, "maxItems": 2,
                   "description": "[first, last]: the job picks a free port of these on its node (default [20000, 39999])"},
    "startup_timeout_ms": {"type": "integer", "minimum": 1, "description": "longest wait for a server: time in the queue plus loading (default 10 min)"},
    "log_lines": {"type": "integer", "minimum": 1, "description": "lines of server output kept while an instance starts (a failed start quotes the last 20)"},
    "log_verbosity": {"type": "integer", "minimum": 0, "description": "llama-server --log-verbosity (default: 4 while corral measures the model's memory from the buffer sizes printed there, else llama-server's own)"}
  }
})json";

namespace {

using sdk::json_path_join;
using sdk::JsonPathError;

// A value handed to sbatch as one option word: no control characters or spaces, no leading '-'.
void check_word(const std::string& value, const std::string& path) {
    if (value.empty()) return;
    if (value.front() == '-') throw JsonPathError(path, "must not start with '-'");
    for (unsigned char c : value)
        if (c <= ' ' || c == 0x7f) throw JsonPathError(path, "must not contain spaces or control characters");
}

bool made_of(const std::string& s, const char* allowed) {
    return std::all_of(s.begin(), s.end(), [&](char c) { return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(allowed, c); });
}

void read_job_part(sdk::FieldReader& r, SlurmOptions& o, const std::string& path) {
    for (auto [key, field] : std::array<std::pair<const char*, std::string*>, 5>{{{"partition", &o.partition},
                                                                                  {"account", &o.account},
                                                                                  {"qos", &o.qos},
                                                                                  {"constraint", &o.constraint},
                                                                                  {"time_limit", &o.time_limit}}}) {
        r.optional_or_keep(key, *field);
        check_word(*field, json_path_join(path, key));
    }
    if (!o.time_limit.empty()) {
        auto upper = o.time_limit;
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        if (upper != "UNLIMITED" && upper != "INFINITE" &&
            !(std::isdigit(static_cast<unsigned char>(o.time_limit.front())) && made_of(o.time_limit, ":-")))
            throw JsonPathError(json_path_join(path, "time_limit"),
                                "expected minutes, [D-]HH:MM[:SS] or UNLIMITED, got \"" + o.time_limit + "\"");
    }
    r.optional("gpus", o.gpus);
    std::optional<uint32_t> cpus;
    r.optional("cpus", cpus);
    if (cpus) {
        if (*cpus == 0) throw JsonPathError(json_path_join(path, "cpus"), "must be at least 1");
        o.cpus = cpus;
    }
    r.optional_or_keep("memory", o.memory);
    if (!o.memory.empty()) {
        auto digits = o.memory.find_first_not_of("0123456789");
        if (digits == 0 || (digits != std::string::npos && (digits + 1 != o.memory.size() || !std::strchr("KMGT", o.memory[digits]))))
            throw JsonPathError(json_path_join(path, "memory"),
                                "expected a size such as 512M or 16G (or megabytes), got \"" + o.memory + "\"");
    }
    std::vector<std::string> more;
    r.optional_or_keep("sbatch_args", more);
    for (std::size_t i = 0; i < more.size(); ++i) {
        if (auto problem = sbatch_arg_problem(more[i]); !problem.empty())
            throw JsonPathError(sdk::json_path_index(json_path_join(path, "sbatch_args"), i), problem);
    }
    o.sbatch_args.insert(o.sbatch_args.end(), more.begin(), more.end());
    r.optional_or_keep("binary", o.binary);
    if (o.binary.empty()) throw JsonPathError(json_path_join(path, "binary"), "must not be empty");
    r.optional_or_keep("working_dir", o.working_dir);
    if (o.working_dir.empty() || o.working_dir.find('\n') != std::string::npos)
        throw JsonPathError(json_path_join(path, "working_dir"), "expected a directory");
    plugin_common::read_env(r, "env", o.env);
    for (const auto& [name, value] : o.env) {
        if (!made_of(name, "_") || std::isdigit(static_cast<unsigned char>(name.front())))
            throw JsonPathError(json_path_join(json_path_join(path, "env"), name), "not a variable name");
        if (name.rfind("SLURM_", 0) == 0)
            throw JsonPathError(json_path_join(json_path_join(path, "env"), name),
                                "SLURM_ variables would change the job itself: use the runner's options");
    }
    plugin_common::append_strings(r, "extra_args", o.extra_args);
    std::vector<uint16_t> ports;
    r.optional_or_keep("port_range", ports);
    if (!ports.empty()) {
        if (ports.size() != 2 || ports[0] == 0 || ports[0] > ports[1])
            throw JsonPathError(json_path_join(path, "port_range"), "expected [first, last] with 0 < first <= last");
        o.port_first = ports[0];
        o.port_last = ports[1];
    }
    std::optional<uint32_t> timeout;
    r.optional("startup_timeout_ms", timeout);
    if (timeout) o.startup_timeout = std::chrono::milliseconds(*timeout);
    r.optional("log_verbosity", o.log_verbosity);
}

const std::vector<std::string_view> kJobKeys = {"partition",    "account", "qos",        "time_limit",  "gpus",
                                                "cpus",         "memory",  "constraint", "sbatch_args", "binary",
                                                "working_dir",  "env",     "extra_args", "port_range",  "startup_timeout_ms",
                                                "log_verbosity"};

}  // namespace

std::string sbatch_arg_problem(const std::string& arg) {
    if (arg.size() < 3 || arg.rfind("--", 0) != 0 || !std::isalpha(static_cast<unsigned char>(arg[2])))
        return "expected a long option, --name or --name=value (short options and separate values are ambiguous)";
    if (arg.find('\n') != std::string::npos) return "must be one line";
    const auto name = arg.substr(2, arg.find('=') - 2);
    // What the runner sets itself or relies on.
    static const std::map<std::string, const char*> refused = {
        {"requeue", "corral decides restarts: a requeued job would run a second copy after a node loss"},
        {"no-requeue", "always set by the runner"},
        {"array", "one job is one server"},
        {"ntasks", "a server is one task"},
        {"nodes", "a server runs on one node"},
        {"ntasks-per-node", "a server is one task"},
        {"job-name", "the runner names jobs (job_name_prefix)"},
        {"comment", "the runner keeps the server's address in the job's comment"},
        {"output", "the runner follows the server's output itself"},
        {"error", "the runner follows the server's output itself"},
        {"input", "the server reads nothing"},
        {"open-mode", "the runner follows the server's output itself"},
        {"export", "the runner passes the server's environment"},
        {"export-file", "the runner passes the server's environment"},
        {"chdir", "use working_dir"},
        {"wrap", "the runner writes the job script"},
        {"parsable", "always set by the runner"},
        {"wait", "the runner waits for the job itself"},
        {"hold", "the job would never start"},
        {"test-only", "the job would never start"},
        {"uid", "jobs run as corral's user"},
        {"gid", "jobs run as corral's user"},
        {"kill-on-invalid-dep", "set dependencies outside corral"},
        {"het-group", "one job is one server"},
        {"partition", "use the partition option"},
        {"account", "use the account option"},
        {"qos", "use the qos option"},
        {"time", "use time_limit"},
        {"gres", "use gpus"},
        {"gpus", "use gpus"},
        {"cpus-per-task", "use cpus"},
        {"mem", "use memory"},
        {"constraint", "use constraint"},
    };
    if (auto it = refused.find(name); it != refused.end()) return "--" + name + " is not allowed: " + it->second;
    return {};
}

SlurmOptions parse_runner_options(const boost::json::object& options, const std::string& path) {
    auto known = kJobKeys;
    for (auto key : {"slurm_conf", "commands_dir", "job_name_prefix", "cluster_name", "poll_interval_ms", "log_lines", "slot_cache_dir"})
        known.push_back(key);
    plugin_common::reject_unknown_keys(options, known, path, "slurm");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    SlurmOptions o;
    r.optional_or_keep("slurm_conf", o.slurm_conf);
    r.optional_or_keep("commands_dir", o.commands_dir);
    r.optional_or_keep("job_name_prefix", o.job_name_prefix);
    if (o.job_name_prefix.empty() || !made_of(o.job_name_prefix, "._-") || o.job_name_prefix.front() == '-')
        throw JsonPathError(json_path_join(path, "job_name_prefix"), "expected letters, digits, '.', '_' or '-' (not first)");
    r.optional_or_keep("cluster_name", o.cluster_name);
    if (o.cluster_name.empty()) throw JsonPathError(json_path_join(path, "cluster_name"), "must not be empty");
    std::optional<uint32_t> poll;
    r.optional("poll_interval_ms", poll);
    if (poll) {
        if (*poll < 100) throw JsonPathError(json_path_join(path, "poll_interval_ms"), "must be at least 100");
        o.poll_interval = std::chrono::milliseconds(*poll);
    }
    r.optional_or_keep("log_lines", o.log_lines);
    if (o.log_lines == 0) throw JsonPathError(json_path_join(path, "log_lines"), "must be at least 1");
    r.optional_or_keep("slot_cache_dir", o.slot_cache_dir);
    if (options.contains("slot_cache_dir")) {
        const std::filesystem::path dir(o.slot_cache_dir);
        if (!dir.is_absolute()) throw JsonPathError(json_path_join(path, "slot_cache_dir"), "expected an absolute directory");
        o.slot_cache_dir = dir.lexically_normal().string();
        if (o.slot_cache_dir.size() > 1 && o.slot_cache_dir.back() == '/') o.slot_cache_dir.pop_back();
    }
    read_job_part(r, o, path);
    return o;
}

SlurmOptions parse_model_options(SlurmOptions base, const boost::json::object& options, const std::string& path) {
    plugin_common::reject_unknown_keys(options, kJobKeys, path, "per-model slurm");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    read_job_part(r, base, path);
    return base;
}

}  // namespace corral::slurm
