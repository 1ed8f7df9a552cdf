#include "nginx_server.hpp"

#include "free_port.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace corral::test {
namespace fs = std::filesystem;

NginxServer::NginxServer(fs::path dir, const Locations& locations) : dir_(std::move(dir)), port_(free_port()) {
    fs::create_directories(dir_ / "www");
    fs::create_directories(dir_ / "tmp");
    auto made = run_process({"/usr/bin/env", "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                             "-nodes", "-keyout", (dir_ / "server.key").string(), "-out", certificate().string(), "-days", "2", "-subj",
                             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"});
    if (made.exit_code != 0) throw std::runtime_error("openssl could not make a certificate: " + made.err);
    const auto d = dir_.string();
    std::ofstream(dir_ / "nginx.conf") << "daemon off;\nmaster_process off;\npid " << d << "/nginx.pid;\nerror_log " << d
                                       << "/error.log info;\n"
                                          "events { worker_connections 64; }\n"
                                          "http {\n"
                                          "  log_format test '$status \"$http_range\" $request_uri \"$http_authorization\" $bytes_sent';\n"
                                          "  access_log "
                                       << d << "/access.log test;\n  client_body_temp_path " << d << "/tmp/body;\n  proxy_temp_path " << d
                                       << "/tmp/proxy;\n  fastcgi_temp_path " << d << "/tmp/fastcgi;\n  uwsgi_temp_path " << d
                                       << "/tmp/uwsgi;\n  scgi_temp_path " << d
                                       << "/tmp/scgi;\n"
                                          "  default_type application/octet-stream;\n"
                                          "  server {\n    listen 127.0.0.1:"
                                       << port_ << " ssl;\n    ssl_certificate " << certificate().string() << ";\n    ssl_certificate_key "
                                       << d << "/server.key;\n    root " << www().string() << ";\n"
                                       << (locations ? locations(*this) : "") << "\n  }\n}\n";
    start();
}

NginxServer::~NginxServer() {
    if (process_) process_->kill_and_wait(SIGKILL);
}

void NginxServer::start() {
    process_ =
        std::make_unique<SpawnedProcess>(std::vector<std::string>{"/usr/sbin/nginx", "-p", dir_.string(), "-c",
                                                                  (dir_ / "nginx.conf").string(), "-e", (dir_ / "error.log").string()},
                                         (dir_ / "nginx.out").string());
    // nginx opens its listening socket before it serves: the first connect that succeeds means ready.
    boost::asio::io_context io;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (auto wait = std::chrono::milliseconds(5);; wait = std::min(wait * 2, std::chrono::milliseconds(100))) {
        boost::asio::ip::tcp::socket s(io);
        boost::system::error_code ec;
        s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
        if (!ec) return;
        if (std::chrono::steady_clock::now() > deadline) {
            std::ifstream log(dir_ / "error.log");
            throw std::runtime_error("nginx did not start: " + std::string(std::istreambuf_iterator<char>(log), {}));
        }
        std::this_thread::sleep_for(wait);
    }
}

void NginxServer::stop_hard() {
    if (process_) process_->kill_and_wait(SIGKILL);
    process_.reset();
}

std::string NginxServer::access_log() const {
    std::ifstream in(dir_ / "access.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace corral::test
