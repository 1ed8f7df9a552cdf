#include "engine_cli.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <stdexcept>

namespace corral::container {

std::string container_name(const std::string& prefix, const std::string& instance_id) {
    std::string out = prefix;
    for (char c : instance_id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        out += ok ? c : '_';
    }
    return out;
}

std::string model_path_inside(const ContainerOptions& o, const std::string& host_path) {
    return (std::filesystem::path(o.model_dir) / std::filesystem::path(host_path).filename()).string();
}

std::vector<std::string> engine_args(const ContainerOptions& o, std::vector<std::string> subcommand) {
    std::vector<std::string> a = o.engine_args;
    a.insert(a.end(), subcommand.begin(), subcommand.end());
    return a;
}

std::vector<std::string> gpu_flags(Engine engine) {
    if (engine == Engine::Docker) return {"--gpus", "all"};
    return {"--device", "nvidia.com/gpu=all"};
}

std::vector<std::string> run_args(const ContainerOptions& o, const RunRequest& r) {
    std::vector<std::string> a = {"run", "--detach", "--name", r.name, "--pull", o.pull};
    for (const auto& [k, v] : std::map<std::string, std::string>{{kLabelPrefix, o.name_prefix},
                                                                 {kLabelInstance, r.instance_id},
                                                                 {kLabelModel, r.model_name},
                                                                 {kLabelEndpoint, r.endpoint},
                                                                 {kLabelStarted, std::to_string(r.started_at_ms)}}) {
        a.insert(a.end(), {"--label", k + "=" + v});
    }
    // --mount, not -v, whose value a ':' in the path would split (a ',' is refused before: it splits --mount's).
    a.insert(a.end(),
             {"--mount", "type=bind,source=" + r.model_host_path + ",target=" + model_path_inside(o, r.model_host_path) + ",readonly"});
    if (!r.slot_save_path.empty()) a.insert(a.end(), {"--mount", "type=bind,source=" + r.slot_save_path + ",target=" + r.slot_save_path});
    if (o.network == Network::Host)
        a.insert(a.end(), {"--network", "host"});
    else
        a.insert(a.end(), {"--publish", "127.0.0.1:" + std::to_string(r.host_port) + ":" + std::to_string(kContainerPort)});
    for (const auto& [k, v] : o.env) a.insert(a.end(), {"--env", k + "=" + v});
    for (const auto& name : r.server_env_names) a.insert(a.end(), {"--env", name});
    if (r.with_gpus) {
        auto g = gpu_flags(o.engine);
        a.insert(a.end(), g.begin(), g.end());
    }
    a.insert(a.end(), o.run_args.begin(), o.run_args.end());
    a.insert(a.end(), {"--entrypoint", o.binary, o.image});
    a.insert(a.end(), r.server_args.begin(), r.server_args.end());
    return engine_args(o, a);
}

std::vector<ContainerState> parse_inspect(const std::string& text) {
    auto doc = boost::json::parse(text);
    if (!doc.is_array()) throw std::runtime_error("inspect did not answer a JSON array");
    std::vector<ContainerState> out;
    for (const auto& item : doc.as_array()) {
        const auto& o = item.as_object();
        ContainerState s;
        if (const auto* id = o.if_contains("Id"); id && id->is_string()) s.id = id->as_string();
        if (const auto* name = o.if_contains("Name"); name && name->is_string()) {
            s.name = name->as_string();
            if (!s.name.empty() && s.name.front() == '/') s.name.erase(0, 1);  // docker's leading '/'
        }
        if (const auto* state = o.if_contains("State"); state && state->is_object()) {
            const auto& st = state->as_object();
            if (const auto* r = st.if_contains("Running"); r && r->is_bool()) s.running = r->as_bool();
            if (const auto* c = st.if_contains("ExitCode"); c && c->is_number()) s.exit_code = c->to_number<int>();
            if (const auto* p = st.if_contains("Pid"); p && p->is_number() && p->to_number<int64_t>() > 0) s.pid = p->to_number<int64_t>();
        }
        if (const auto* config = o.if_contains("Config"); config && config->is_object()) {
            if (const auto* labels = config->as_object().if_contains("Labels"); labels && labels->is_object()) {
                for (const auto& kv : labels->as_object())
                    if (kv.value().is_string()) s.labels[std::string(kv.key())] = std::string(kv.value().as_string());
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::optional<sdk::ProcessHandle> handle_from_labels(const ContainerState& state) {
    auto label = [&](const char* key) -> std::string {
        auto it = state.labels.find(key);
        return it == state.labels.end() ? std::string() : it->second;
    };
    sdk::ProcessHandle h;
    h.instance_id = label(kLabelInstance);
    if (h.instance_id.empty()) return std::nullopt;
    h.model_name = label(kLabelModel);
    h.runner = "container";
    h.endpoint = label(kLabelEndpoint);
    try {
        h.started_at_ms = std::stoll(label(kLabelStarted));
    } catch (const std::exception&) {
        h.started_at_ms = 0;
    }
    h.pid = state.pid;
    h.runner_data = boost::json::object{{"container", state.name}, {"id", state.id}};
    return h;
}

}  // namespace corral::container
