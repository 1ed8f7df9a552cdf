// Debian's nginx as a test's web server: HTTPS with a self-signed certificate made by the openssl
// CLI (for 127.0.0.1 and localhost), files from www(), Range requests as nginx serves them, and
// whatever locations the test adds. One process (master_process off), so stop_hard() kills the
// whole server mid-response.
#pragma once

#include "process.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace corral::test {

class NginxServer {
public:
    // `locations` makes nginx directives for the server block (e.g. a `location /slow/ {...}`); it is
    // called once the port and folders are chosen, so they can name them.
    using Locations = std::function<std::string(const NginxServer&)>;
    explicit NginxServer(std::filesystem::path dir, const Locations& locations = {});
    ~NginxServer();

    void start();      // on the same port each time; returns once it accepts connections
    void stop_hard();  // SIGKILL, as a crash or a pulled cable would

    std::filesystem::path www() const { return dir_ / "www"; }
    std::filesystem::path certificate() const { return dir_ / "server.pem"; }
    uint16_t port() const { return port_; }
    std::string url(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(port_) + path; }
    // The access log: one line per request, "STATUS RANGE URI AUTHORIZATION BYTES_SENT".
    std::string access_log() const;

private:
    std::filesystem::path dir_;
    uint16_t port_ = 0;
    std::unique_ptr<SpawnedProcess> process_;
};

}  // namespace corral::test
