#include "container_options.hpp"

#include "options.hpp"

#include <corral/sdk/json.hpp>

namespace corral::container {

const char* const kContainerOptionsSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "engine": {"enum": ["podman", "docker"], "description": "the container engine (default podman)"},
    "engine_command": {"type": "string", "minLength": 1, "description": "its CLI: a path or a wrapper (default: the engine's name in PATH)"},
    "engine_args": {"type": "array", "items": {"type": "string"}, "description": "global flags before every subcommand, e.g. [\"--root\", \"/srv/podman\"] or [\"-H\", \"unix:///run/docker.sock\"]"},
    "engine_env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "added to the engine CLI's environment (CONTAINERS_CONF, DOCKER_HOST, ...)"},
    "name_prefix": {"type": "string", "minLength": 1, "description": "container name prefix (default corral-); also scopes which containers this runner lists"},
    "pull": {"enum": ["never", "missing", "always"], "description": "image pull policy (default never)"},
    "image": {"type": "string", "minLength": 1, "description": "the image with llama-server"},
    "binary": {"type": "string", "minLength": 1, "description": "llama-server inside the image (default llama-server)"},
    "network": {"enum": ["publish", "host"], "description": "publish (default): the port published on 127.0.0.1; host: the host's network"},
    "model_dir": {"type": "string", "minLength": 1, "description": "where model files are mounted read-only inside (default /models)"},
    "gpus": {"enum": ["auto", "all", "none"], "description": "pass NVIDIA GPUs: auto (default: when the engine can here), all, none"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "the server's environment inside the container"},
    "extra_args": {"type": "array", "items": {"type": "string"}, "description": "arguments added to every server"},
    "run_args": {"type": "array", "items": {"type": "string"}, "description": "more flags for the engine's run command"},
    "startup_timeout_ms": {"type": "integer", "minimum": 1, "description": "longest wait for a server to become ready"},
    "log_lines": {"type": "integer", "minimum": 1, "description": "lines of server output kept while an instance starts (a failed start quotes the last 20)"},
    "log_verbosity": {"type": "integer", "minimum": 0, "description": "llama-server --log-verbosity (default: 4 while corral measures the model's memory from the buffer sizes printed there, else llama-server's own)"}
  }
})json";

namespace {

using sdk::json_path_join;
using sdk::JsonPathError;

template <class T>
T read_enum(const sdk::FieldReader& r, const char* key, T value, std::initializer_list<std::pair<const char*, T>> names,
            const std::string& path) {
    std::string text;
    r.optional_or_keep(key, text);
    if (text.empty()) return value;
    std::string expected;
    for (const auto& [name, v] : names) {
        if (text == name) return v;
        expected += (expected.empty() ? "\"" : ", \"") + std::string(name) + "\"";
    }
    throw JsonPathError(json_path_join(path, key), "expected one of " + expected + ", got \"" + text + "\"");
}

void read_run_part(sdk::FieldReader& r, ContainerOptions& o, const std::string& path) {
    r.optional_or_keep("image", o.image);
    r.optional_or_keep("binary", o.binary);
    plugin_common::read_env(r, "env", o.env);
    plugin_common::append_strings(r, "extra_args", o.extra_args);
    plugin_common::append_strings(r, "run_args", o.run_args);
    o.gpus = read_enum(r, "gpus", o.gpus, {{"auto", Gpus::Auto}, {"all", Gpus::All}, {"none", Gpus::None}}, path);
    std::optional<uint32_t> timeout;
    r.optional("startup_timeout_ms", timeout);
    if (timeout) o.startup_timeout = std::chrono::milliseconds(*timeout);
    r.optional("log_verbosity", o.log_verbosity);
    if (o.binary.empty()) throw JsonPathError(json_path_join(path, "binary"), "must not be empty");
}

}  // namespace

ContainerOptions parse_runner_options(const boost::json::object& options, const std::string& path) {
    plugin_common::reject_unknown_keys(
        options,
        {"engine", "engine_command", "engine_args", "engine_env", "name_prefix", "pull", "image", "binary", "network", "model_dir", "gpus",
         "env", "extra_args", "run_args", "startup_timeout_ms", "log_lines", "log_verbosity"},
        path, "container");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    ContainerOptions o;
    o.engine = read_enum(r, "engine", o.engine, {{"podman", Engine::Podman}, {"docker", Engine::Docker}}, path);
    r.optional_or_keep("engine_command", o.engine_command);
    r.optional_or_keep("engine_args", o.engine_args);
    plugin_common::read_env(r, "engine_env", o.engine_env);
    r.optional_or_keep("name_prefix", o.name_prefix);
    for (char c : o.name_prefix) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        if (!ok || o.name_prefix.front() == '-' || o.name_prefix.front() == '.' || o.name_prefix.front() == '_')
            throw JsonPathError(json_path_join(path, "name_prefix"),
                                "expected letters, digits, '_', '.' or '-', starting with a letter or digit");
    }
    o.pull = read_enum(r, "pull", std::string("never"),
                       {{"never", std::string("never")}, {"missing", std::string("missing")}, {"always", std::string("always")}}, path);
    o.network = read_enum(r, "network", o.network, {{"publish", Network::Publish}, {"host", Network::Host}}, path);
    r.optional_or_keep("model_dir", o.model_dir);
    if (o.model_dir.empty() || o.model_dir.front() != '/')
        throw JsonPathError(json_path_join(path, "model_dir"), "expected an absolute path");
    r.optional_or_keep("log_lines", o.log_lines);
    if (o.log_lines == 0) throw JsonPathError(json_path_join(path, "log_lines"), "must be at least 1");
    read_run_part(r, o, path);
    return o;
}

ContainerOptions parse_model_options(ContainerOptions base, const boost::json::object& options, const std::string& path) {
    plugin_common::reject_unknown_keys(options,
                                       {"image", "binary", "env", "extra_args", "run_args", "gpus", "startup_timeout_ms", "log_verbosity"},
                                       path, "per-model container");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    read_run_part(r, base, path);
    return base;
}

}  // namespace corral::container
