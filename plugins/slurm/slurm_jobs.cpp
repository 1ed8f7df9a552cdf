#include "slurm_jobs.hpp"

#include "percent_escape.hpp"
#include "shell_quote.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace corral::slurm {
namespace {

using plugin_common::shell_quote;

bool plain(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

std::string escape(const std::string& value) {
    return plugin_common::percent_escape(value, [](unsigned char c, bool) { return plain(static_cast<char>(c)); });
}

constexpr std::string_view kCommentMark = "corral";

const boost::json::value* member(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
}

std::string string_member(const boost::json::object& o, std::string_view key) {
    const auto* v = member(o, key);
    if (!v) return {};
    if (v->is_string()) return std::string(v->get_string());
    // Newer Slurm writes some states as arrays of flags ("job_state": ["RUNNING"]).
    if (v->is_array() && !v->get_array().empty() && v->get_array().front().is_string())
        return std::string(v->get_array().front().get_string());
    return {};
}

std::optional<int64_t> integer_member(const boost::json::object& o, std::string_view key) {
    const auto* v = member(o, key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
    // Newer Slurm: {"set": true, "number": N}.
    if (v->is_object()) {
        const auto& n = v->get_object();
        if (const auto* set = member(n, "set"); set && set->is_bool() && !set->get_bool()) return std::nullopt;
        return integer_member(n, "number");
    }
    return std::nullopt;
}

}  // namespace

std::string job_name(const std::string& prefix, const std::string& instance_id) {
    std::string name = prefix;
    for (char c : instance_id) name += plain(c) ? c : '_';
    return name;
}

std::string format_comment(const JobComment& c) {
    std::string out(kCommentMark);
    out += ";instance=" + escape(c.instance_id);
    out += ";model=" + escape(c.model_name);
    out += ";started=" + std::to_string(c.started_at_ms);
    if (c.port) out += ";port=" + std::to_string(*c.port);
    return out;
}

std::optional<JobComment> parse_comment(const std::string& text) {
    if (text.rfind(std::string(kCommentMark) + ";", 0) != 0) return std::nullopt;
    JobComment c;
    bool has_instance = false;
    std::size_t at = kCommentMark.size() + 1;
    while (at <= text.size()) {
        auto end = text.find(';', at);
        if (end == std::string::npos) end = text.size();
        auto field = text.substr(at, end - at);
        at = end + 1;
        auto eq = field.find('=');
        if (eq == std::string::npos) continue;
        auto key = field.substr(0, eq);
        auto value = plugin_common::percent_unescape(field.substr(eq + 1));
        if (!value) return std::nullopt;
        try {
            if (key == "instance") {
                c.instance_id = *value;
                has_instance = !value->empty();
            } else if (key == "model") {
                c.model_name = *value;
            } else if (key == "started") {
                c.started_at_ms = std::stoll(*value);
            } else if (key == "port") {
                auto port = std::stoul(*value);
                if (port == 0 || port > 65535) return std::nullopt;
                c.port = static_cast<uint16_t>(port);
            }
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }
    if (!has_instance) return std::nullopt;
    return c;
}

std::string job_script(const JobScript& s) {
    auto published = format_comment(s.comment);
    std::string server;
    for (const auto& a : s.args) server += " " + (a == kPortPlaceholder ? std::string("\"$port\"") : shell_quote(a));
    std::string out;
    out += "#!/bin/bash\n";
    out += "# corral: " + escape(s.comment.model_name) + " (instance " + escape(s.comment.instance_id) + ")\n";
    out += "where=\"${SLURMD_NODENAME:-$(hostname)}\"\n";
    out += "cd " + shell_quote(s.working_dir) + " 2>/dev/null || { echo \"corral: no directory " + shell_quote(s.working_dir) +
           " on $where\" >&2; exit " + std::to_string(kScriptWorkingDirMissing) + "; }\n";
    // Best effort: a server that cannot save there only loses its prompt caches.
    if (!s.cache_dir.empty()) out += "mkdir -p -- " + shell_quote(s.cache_dir) + " 2>/dev/null\n";
    out += "model=" + shell_quote(s.model_path) + "\n";
    out += "[ -f \"$model\" ] && [ -r \"$model\" ] || { echo \"corral: model file $model not found or not readable on $where\" >&2; exit " +
           std::to_string(kScriptModelMissing) + "; }\n";
    out += "binary=" + shell_quote(s.binary) + "\n";
    out += "command -v \"$binary\" >/dev/null 2>&1 || { echo \"corral: $binary not found on $where\" >&2; exit " +
           std::to_string(kScriptBinaryMissing) + "; }\n";
    // A port nothing listens on (connecting is refused at once), probed from a place set by the job
    // id: jobs starting together on one node begin at different ports (random picks collided, and
    // both servers found their port free before either bound it).
    out += "port=\n";
    out += "for try in $(seq 0 99); do\n";
    out += "  p=$((" + std::to_string(s.port_first) + " + (${SLURM_JOB_ID:-0} + try) % " +
           std::to_string(static_cast<unsigned>(s.port_last) - s.port_first + 1) + "))\n";
    out += "  if ! (exec 3<>\"/dev/tcp/127.0.0.1/$p\") 2>/dev/null; then port=$p; break; fi\n";
    out += "done\n";
    out += "[ -n \"$port\" ] || { echo \"corral: no free port in " + std::to_string(s.port_first) + "-" + std::to_string(s.port_last) +
           " on $where\" >&2; exit " + std::to_string(kScriptNoFreePort) + "; }\n";
    out += "scontrol update JobId=\"$SLURM_JOB_ID\" Comment=" + shell_quote(published) + "\";port=$port\" || exit " +
           std::to_string(kScriptCannotPublish) + "\n";
    // Step 0: sattach follows its output; scancel's TERM reaches the server through srun.
    out += "exec srun --unbuffered --nodes=1 --ntasks=1 --cpus-per-task=\"${SLURM_CPUS_ON_NODE:-1}\" --kill-on-bad-exit=1 -- \"$binary\"" +
           server + "\n";
    return out;
}

std::vector<std::string> sbatch_arguments(const SlurmOptions& o, const std::string& name, const std::string& comment) {
    std::vector<std::string> a = {"--parsable",   "--no-requeue", "--job-name=" + name, "--comment=" + comment,    "--output=/dev/null",
                                  "--export=ALL", "--nodes=1",    "--ntasks=1",         "--chdir=" + o.working_dir};
    if (!o.partition.empty()) a.push_back("--partition=" + o.partition);
    if (!o.account.empty()) a.push_back("--account=" + o.account);
    if (!o.qos.empty()) a.push_back("--qos=" + o.qos);
    if (!o.time_limit.empty()) a.push_back("--time=" + o.time_limit);
    if (o.gpus && *o.gpus > 0) a.push_back("--gres=gpu:" + std::to_string(*o.gpus));
    if (o.cpus) a.push_back("--cpus-per-task=" + std::to_string(*o.cpus));
    if (!o.memory.empty()) a.push_back("--mem=" + o.memory);
    if (!o.constraint.empty()) a.push_back("--constraint=" + o.constraint);
    a.insert(a.end(), o.sbatch_args.begin(), o.sbatch_args.end());
    return a;
}

std::vector<JobInfo> parse_squeue_json(const std::string& text) {
    boost::system::error_code ec;
    auto doc = boost::json::parse(text, ec);
    if (ec || !doc.is_object()) throw std::runtime_error("squeue --json did not answer a JSON object");
    const auto* jobs = doc.get_object().if_contains("jobs");
    if (!jobs || !jobs->is_array()) throw std::runtime_error("squeue --json answered no \"jobs\" array");
    std::vector<JobInfo> out;
    for (const auto& item : jobs->get_array()) {
        if (!item.is_object()) continue;
        const auto& j = item.get_object();
        JobInfo info;
        auto id = integer_member(j, "job_id");
        if (!id || *id <= 0) continue;
        info.id = static_cast<uint64_t>(*id);
        info.name = string_member(j, "name");
        info.state = string_member(j, "job_state");
        info.reason = string_member(j, "state_reason");
        info.batch_host = string_member(j, "batch_host");
        info.nodes = string_member(j, "nodes");
        info.comment = string_member(j, "comment");
        if (const auto* e = member(j, "exit_code")) {
            if (e->is_object()) {
                // Newer Slurm: {"status": [...], "return_code": N, "signal": {"id": N}}.
                const auto& eo = e->get_object();
                std::optional<int64_t> signal;
                if (const auto* s = member(eo, "signal"); s && s->is_object()) signal = integer_member(s->get_object(), "id");
                auto code = integer_member(eo, "return_code");
                if (signal && *signal > 0)
                    info.exit_code = *signal;
                else if (code)
                    info.exit_code = *code << 8;
            } else {
                info.exit_code = integer_member(j, "exit_code");
            }
        }
        if (const auto* g = member(j, "gres_detail"); g && g->is_array())
            for (const auto& d : g->get_array())
                if (d.is_string()) info.gres.emplace_back(d.get_string());
        info.restarts = static_cast<uint32_t>(integer_member(j, "restart_cnt").value_or(0));
        out.push_back(std::move(info));
    }
    return out;
}

std::optional<JobInfo> parse_squeue_line(const std::string& line) {
    std::vector<std::string> fields;
    std::size_t at = 0;
    for (int i = 0; i < 3; ++i) {
        auto bar = line.find('|', at);
        if (bar == std::string::npos) return std::nullopt;
        fields.push_back(line.substr(at, bar - at));
        at = bar + 1;
    }
    JobInfo job;
    job.state = fields[0];
    job.reason = fields[1];
    job.batch_host = fields[2];
    job.comment = line.substr(at);  // the last field: corral's comments hold no '|' (escaped)
    return job;
}

std::map<std::string, std::string> parse_node_addresses(const std::string& text) {
    boost::system::error_code ec;
    auto doc = boost::json::parse(text, ec);
    if (ec || !doc.is_object()) throw std::runtime_error("sinfo --json did not answer a JSON object");
    const auto* nodes = doc.get_object().if_contains("nodes");
    if (!nodes || !nodes->is_array()) throw std::runtime_error("sinfo --json answered no \"nodes\" array");
    std::map<std::string, std::string> out;
    for (const auto& item : nodes->get_array()) {
        if (!item.is_object()) continue;
        auto name = string_member(item.get_object(), "name");
        auto address = string_member(item.get_object(), "address");
        if (address.empty()) address = string_member(item.get_object(), "hostname");
        if (!name.empty() && !address.empty()) out[name] = address;
    }
    return out;
}

bool job_ended(const std::string& state) {
    return !state.empty() && !job_waiting(state) && state != "RUNNING";
}

bool job_waiting(const std::string& state) {
    return state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED" || state == "REQUEUE_HOLD" || state == "REQUEUE_FED" ||
           state == "RESIZING" || state == "SUSPENDED";
}

plugin_common::ExitStatus exit_status_of(const JobInfo& job) {
    plugin_common::ExitStatus s;
    if (!job.exit_code) return s;
    auto raw = *job.exit_code;
    if (raw & 0x7f) {
        s.signal = static_cast<int>(raw & 0x7f);
        return s;
    }
    return plugin_common::exit_status_from_code(static_cast<int>((raw >> 8) & 0xff));  // srun reports a step's signal N as 128 + N
}

std::string gpu_indexes(const JobInfo& job) {
    std::string out;
    for (const auto& g : job.gres) {
        auto at = g.find("(IDX:");
        if (g.rfind("gpu", 0) != 0 || at == std::string::npos) continue;
        auto end = g.find(')', at);
        if (!out.empty()) out += ",";
        out += g.substr(at + 5, end == std::string::npos ? std::string::npos : end - at - 5);
    }
    return out;
}

std::optional<std::chrono::milliseconds> attach_retry_delay(int failures) {
    using std::chrono::milliseconds;
    auto delay_after = [](int n) {
        return n <= 0 ? milliseconds(0) : std::min(milliseconds(100 << std::min(n - 1, 4)), milliseconds(1000));
    };
    milliseconds waited(0);
    for (int n = 1; n < failures; ++n) waited += delay_after(n);
    if (waited + delay_after(failures) > kAttachRetryWindow) return std::nullopt;
    return delay_after(failures);
}

}  // namespace corral::slurm
