#include "ssh_options.hpp"

#include "options.hpp"

#include <corral/sdk/json.hpp>

namespace corral::ssh {

const char* const kSshOptionsSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["host"],
  "properties": {
    "host": {"type": "string", "minLength": 1, "description": "ssh destination: a Host from ssh_config, a name or an address (user@ allowed)"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "ssh port (default: ssh_config's, else 22)"},
    "user": {"type": "string", "minLength": 1, "description": "remote user (default: ssh_config's, else yours)"},
    "identity_file": {"type": "string", "minLength": 1, "description": "private key (ssh -i)"},
    "ssh_config": {"type": "string", "minLength": 1, "description": "ssh client config file (ssh -F); default ~/.ssh/config"},
    "known_hosts": {"type": "string", "minLength": 1, "description": "known_hosts file (UserKnownHostsFile); host keys are always checked"},
    "ssh_options": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+[ =]"}, "description": "more ssh -o options, \"Key=Value\""},
    "ssh_binary": {"type": "string", "minLength": 1, "description": "the OpenSSH client (default ssh from PATH)"},
    "connect_timeout_ms": {"type": "integer", "minimum": 1, "description": "longest wait for the ssh connection"},
    "connect": {"enum": ["forward", "direct"], "description": "forward (default): through a port forwarded over ssh; direct: to the remote address"},
    "direct_host": {"type": "string", "minLength": 1, "description": "direct: the address corral connects to (default: host)"},
    "bind": {"type": "string", "minLength": 1, "description": "address the remote server binds (default 127.0.0.1; direct: 0.0.0.0)"},
    "remote_ports": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}, "minItems": 2, "maxItems": 2,
                     "description": "[first, last] ports for remote servers started without a fixed port"},
    "remote_state_dir": {"type": "string", "minLength": 1, "description": "remote directory for pid files and logs (relative to the remote home)"},
    "binary": {"type": "string", "minLength": 1, "description": "remote llama-server path, or a name in the remote PATH"},
    "working_dir": {"type": "string", "minLength": 1, "description": "remote working directory of the servers"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "added to the remote server's environment"},
    "extra_args": {"type": "array", "items": {"type": "string"}, "description": "arguments added to every server"},
    "startup_timeout_ms": {"type": "integer", "minimum": 1, "description": "longest wait for a server to become ready"},
    "log_lines": {"type": "integer", "minimum": 1, "description": "lines of server output kept while an instance starts (a failed start quotes the last 20)"},
    "log_verbosity": {"type": "integer", "minimum": 0, "description": "llama-server --log-verbosity (default: 4 while corral measures the model's memory from the buffer sizes printed there, else llama-server's own)"},
    "machine": {"type": ["boolean", "object"], "additionalProperties": false,
                "description": "the remote machine for placement: probed (default), false (not described), or {name, probe, nvidia_smi, devices, ram_total}",
                "properties": {
                  "name": {"type": "string", "minLength": 1, "description": "machine name (default: the ssh host)"},
                  "probe": {"type": "boolean", "description": "ask the remote machine: /proc/meminfo and nvidia-smi (default true)"},
                  "nvidia_smi": {"type": "string", "minLength": 1, "description": "remote nvidia-smi (default nvidia-smi from the remote PATH)"},
                  "devices": {"type": "array", "items": {"type": "object"}, "description": "GPUs stated by hand: {backend, index, name, uuid, memory_total (bytes)}"},
                  "ram_total": {"type": "integer", "minimum": 0, "description": "RAM stated by hand, bytes"}}}
  }
})json";

namespace {

using sdk::json_path_join;
using sdk::JsonPathError;

void read_server_part(sdk::FieldReader& r, SshOptions& o, const std::string& path) {
    r.optional_or_keep("binary", o.binary);
    r.optional_or_keep("working_dir", o.working_dir);
    plugin_common::read_env(r, "env", o.env);
    plugin_common::append_strings(r, "extra_args", o.extra_args);
    std::optional<uint32_t> timeout;
    r.optional("startup_timeout_ms", timeout);
    if (timeout) o.startup_timeout = std::chrono::milliseconds(*timeout);
    r.optional("log_verbosity", o.log_verbosity);
    if (o.binary.empty()) throw JsonPathError(json_path_join(path, "binary"), "must not be empty");
    if (o.binary.find('=') != std::string::npos) throw JsonPathError(json_path_join(path, "binary"), "must not contain '='");
}

void read_machine(const sdk::FieldReader& r, MachineOptions& m, const std::string& path) {
    const auto* v = r.object().if_contains("machine");
    if (!v) return;
    const auto mpath = json_path_join(path, "machine");
    if (v->is_bool()) {
        m.describe = v->get_bool();
        return;
    }
    if (!v->is_object()) throw JsonPathError(mpath, "expected true, false or an object");
    plugin_common::reject_unknown_keys(v->get_object(), {"name", "probe", "nvidia_smi", "devices", "ram_total"}, mpath, "ssh machine");
    sdk::FieldReader mr(*v, mpath);
    mr.optional_or_keep("name", m.name);
    mr.optional_or_keep("probe", m.probe);
    mr.optional_or_keep("nvidia_smi", m.nvidia_smi);
    if (m.nvidia_smi.empty() || m.nvidia_smi.front() == '-')
        throw JsonPathError(json_path_join(mpath, "nvidia_smi"), "expected a path or a command name");
    mr.optional("ram_total", m.ram_total);
    if (const auto* devices = mr.object().if_contains("devices")) {
        const auto dpath = json_path_join(mpath, "devices");
        if (!devices->is_array()) throw JsonPathError(dpath, "expected an array of devices");
        std::size_t i = 0;
        for (const auto& item : devices->get_array()) {
            auto d = sdk::from_json<sdk::DeviceInfo>(item, sdk::json_path_index(dpath, i));
            if (d.memory_total == 0)
                throw JsonPathError(json_path_join(sdk::json_path_index(dpath, i), "memory_total"),
                                    "expected the device's memory in bytes");
            if (d.type.empty()) d.type = "discrete";
            m.devices.push_back(std::move(d));
            ++i;
        }
    }
}

}  // namespace

std::string SshOptions::host_name() const {
    auto at = target.host.rfind('@');
    return at == std::string::npos ? target.host : target.host.substr(at + 1);
}

std::string SshOptions::direct_address() const {
    return !direct_host.empty() ? direct_host : host_name();
}

SshOptions parse_runner_options(const boost::json::object& options, const std::string& path) {
    plugin_common::reject_unknown_keys(options, {"host",          "port",        "user",         "identity_file",      "ssh_config",
                                                 "known_hosts",   "ssh_options", "ssh_binary",   "connect_timeout_ms", "connect",
                                                 "direct_host",   "bind",        "remote_ports", "remote_state_dir",   "binary",
                                                 "working_dir",   "env",         "extra_args",   "startup_timeout_ms", "log_lines",
                                                 "log_verbosity", "machine"},
                                       path, "ssh");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    SshOptions o;
    auto& t = o.target;
    t.host = r.required<std::string>("host");
    if (t.host.empty() || t.host.front() == '-') throw JsonPathError(json_path_join(path, "host"), "expected an ssh destination");
    r.optional("port", t.port);
    r.optional_or_keep("user", t.user);
    r.optional_or_keep("identity_file", t.identity_file);
    r.optional_or_keep("ssh_config", t.config_file);
    r.optional_or_keep("known_hosts", t.known_hosts);
    r.optional_or_keep("ssh_options", t.options);
    for (std::size_t i = 0; i < t.options.size(); ++i) {
        const auto& opt = t.options[i];
        auto sep = opt.find_first_of("= ");
        if (sep == std::string::npos || sep == 0 || opt.front() == '-')
            throw JsonPathError(sdk::json_path_index(json_path_join(path, "ssh_options"), i), "expected \"Key=Value\" (an ssh -o option)");
    }
    r.optional_or_keep("ssh_binary", t.ssh_binary);
    std::optional<uint32_t> connect_timeout;
    r.optional("connect_timeout_ms", connect_timeout);
    if (connect_timeout) t.connect_timeout = std::chrono::milliseconds(*connect_timeout);
    std::string connect = "forward";
    r.optional_or_keep("connect", connect);
    if (connect == "direct")
        o.connect = ConnectMode::Direct;
    else if (connect != "forward")
        throw JsonPathError(json_path_join(path, "connect"), "expected \"forward\" or \"direct\", got \"" + connect + "\"");
    r.optional_or_keep("direct_host", o.direct_host);
    r.optional_or_keep("bind", o.bind);
    std::vector<uint16_t> ports;
    r.optional_or_keep("remote_ports", ports);
    if (!ports.empty()) {
        if (ports.size() != 2 || ports[0] == 0 || ports[0] > ports[1])
            throw JsonPathError(json_path_join(path, "remote_ports"), "expected [first, last] with 0 < first <= last");
        o.remote_port_first = ports[0];
        o.remote_port_last = ports[1];
    }
    r.optional_or_keep("remote_state_dir", o.remote_state_dir);
    if (o.remote_state_dir.empty()) throw JsonPathError(json_path_join(path, "remote_state_dir"), "must not be empty");
    r.optional_or_keep("log_lines", o.log_lines);
    if (o.log_lines == 0) throw JsonPathError(json_path_join(path, "log_lines"), "must be at least 1");
    read_server_part(r, o, path);
    read_machine(r, o.machine, path);
    return o;
}

SshOptions parse_model_options(SshOptions base, const boost::json::object& options, const std::string& path) {
    plugin_common::reject_unknown_keys(options, {"binary", "working_dir", "env", "extra_args", "startup_timeout_ms", "log_verbosity"}, path,
                                       "per-model ssh");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    read_server_part(r, base, path);
    return base;
}

}  // namespace corral::ssh
