// The client side of `corral ps|load|unload|logs`: finds the running `corral serve` (--url, else
// the listen address of --config, else $CORRAL_URL, else http://127.0.0.1:8080) and talks to its
// admin API with the admin key (--api-key, $CORRAL_API_KEY, or the config's admin_api_key), over
// HTTPS when the URL says so or the config has "tls".
#pragma once

#include "cli/args.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace corral::cli {

struct AdminTarget {
    std::string host = "127.0.0.1";
    uint16_t port = 8080;
    std::string api_key;
    bool tls = false;     // https: verified against the system's CAs and `ca_file`
    std::string ca_file;  // PEM: --cacert, or the config's tls.cert (a self-signed certificate trusts itself)

    std::string url() const;
};

struct AdminReply {
    int status = 0;
    std::string content_type;
    std::string body;
};

// Options every client command takes.
std::vector<OptionSpec> admin_client_options();

// Throws UsageError for a malformed --url or an invalid --config.
AdminTarget resolve_admin_target(const ParsedArgs& args);

// Throws std::runtime_error("cannot reach corral at URL: ...") when nothing answers.
AdminReply admin_request(const AdminTarget& target, const std::string& method, const std::string& path, const std::string& accept = "");

// A request whose (chunked) body is handed over piece by piece as it arrives; returns the status.
// `on_data` returns false to stop reading.
int admin_stream(const AdminTarget& target, const std::string& method, const std::string& path, const std::string& accept,
                 const std::function<bool(int status, std::string_view data)>& on_data);

// The "message" of an OpenAI error body, or the body itself.
std::string error_message(const AdminReply& reply);

}  // namespace corral::cli
