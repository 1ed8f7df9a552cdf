// Options of the ssh runner (its "runners" entry). Models may override the server part (binary,
// working_dir, env, extra_args, startup_timeout_ms, log_verbosity) in their "runner_options"; the
// connection is the runner's.
#pragma once

#include "remote_machine.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::ssh {

enum class ConnectMode {
    Forward,  // a local port forwarded through the ssh connection to the server on the remote loopback
    Direct,   // the host connects to the remote address itself (the server binds a reachable address)
};

struct SshTarget {
    std::string host;  // ssh destination: a name from ssh_config or an address
    std::optional<uint16_t> port;
    std::string user;
    std::string identity_file;
    std::string config_file;           // ssh -F
    std::string known_hosts;           // UserKnownHostsFile
    std::vector<std::string> options;  // ssh -o values, "Key=Value"
    std::string ssh_binary = "ssh";
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(20)};
};

struct SshOptions {
    SshTarget target;
    ConnectMode connect = ConnectMode::Forward;
    std::string direct_host;  // Direct: the address the host connects to (default: target.host)
    std::string bind;         // address the remote server binds (default 127.0.0.1, Direct 0.0.0.0)
    uint16_t remote_port_first = 20000;
    uint16_t remote_port_last = 39999;
    std::string remote_state_dir = ".local/state/corral/ssh";  // relative to the remote home, or absolute

    std::string binary = "llama-server";  // remote path, or a name in the remote PATH
    std::string working_dir;              // remote; empty: the remote home
    std::map<std::string, std::string> env;
    std::vector<std::string> extra_args;
    std::chrono::milliseconds startup_timeout{std::chrono::minutes(10)};
    uint32_t log_lines = 5000;
    std::optional<uint32_t> log_verbosity;  // unset: 4 while the host measures memory, else the server's default
    MachineOptions machine;                 // how the runner describes its machine for placement ("machine")

    std::string bind_address() const { return !bind.empty() ? bind : connect == ConnectMode::Direct ? "0.0.0.0" : "127.0.0.1"; }
    // The address the host reaches the server at (Direct mode): direct_host, else the ssh host
    // without its user@ part.
    std::string direct_address() const;
    // The ssh host without its user@ part: the default machine name.
    std::string host_name() const;
};

extern const char* const kSshOptionsSchema;

// The runner's options ("options"). Throws sdk::JsonPathError.
SshOptions parse_runner_options(const boost::json::object& options, const std::string& path);

// A model's overrides ("runner_options") on top of the runner's options.
SshOptions parse_model_options(SshOptions base, const boost::json::object& options, const std::string& path);

}  // namespace corral::ssh
