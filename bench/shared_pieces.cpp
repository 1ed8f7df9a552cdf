// Pieces the benchmark sections share.
#include "benchmarks.hpp"
#include "http_client.hpp"
#include "state/server_keys.hpp"

#include <pwd.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <thread>

namespace corral::bench {

std::string llama_runners(const BenchEnv& env) {
    return R"({"local": {"plugin": "llama_server", "binary": ")" + env.llama_server.string() + R"("}, "mock": {"plugin": "mock"}})";
}

std::string tiny_model(const BenchEnv& env, const std::string& name, const std::string& extra) {
    return "\"" + name + R"(": {"path": ")" + (env.models / (name + ".gguf")).string() + R"(", "runner": "local", "ctx_size": 2048)" +
           extra + "}";
}

std::string wait_ready(const CorralServe& corral, const std::string& model) {
    for (int i = 0; i < 6000; ++i) {
        auto m = corral.model(model);
        if (m.at("state") == "ready") return std::string(m.at("endpoint").as_string());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error(model + " did not become ready");
}

std::string server_key(const CorralServe& corral, const std::string& model) {
    const auto m = corral.model(model);
    return state::ServerKeys(corral.state_dir()).key_for(std::string(m.at("instance").as_string()));
}

DirectTwin::DirectTwin(const CorralServe& corral, const std::string& model, const fs::path& log) {
    const auto m = corral.model(model);
    const auto* pid = m.if_contains("pid");
    if (!pid || !pid->is_int64()) throw std::runtime_error(model + " has no local server to copy");
    std::ifstream in("/proc/" + std::to_string(pid->as_int64()) + "/cmdline");
    std::vector<std::string> args;
    for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
    if (args.empty()) throw std::runtime_error("cannot read the command line of " + model + "'s server");
    port_ = free_port();
    for (std::size_t i = 1; i + 1 < args.size(); ++i)
        if (args[i] == "--host") args[i + 1] = "127.0.0.1";
    args.insert(args.end(), {"--port", std::to_string(port_), "--api-key", server_key(corral, model)});
    process_ = std::make_unique<Background>(args, log);
    if (!wait_http_ok(port_, "/health", std::chrono::seconds(60)))
        throw std::runtime_error("the direct twin of " + model + " did not start");
}

NginxProxy::NginxProxy(const fs::path& dir, const std::string& endpoint, const std::string& key, uint32_t workers) {
    on_socket_ = endpoint.rfind("unix://", 0) == 0;
    const std::string upstream = on_socket_ ? "unix:" + endpoint.substr(7) : endpoint.substr(endpoint.find("://") + 3);
    port_ = free_port();
    fs::create_directories(dir / "tmp");
    const passwd* user = ::getpwuid(::geteuid());
    std::ofstream(dir / "nginx.conf") << (::geteuid() == 0 && user ? "user " + std::string(user->pw_name) + ";\n" : "")
                                      << "daemon off;\nworker_processes " << workers << ";\npid " << (dir / "nginx.pid").string()
                                      << ";\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n"
                                      << "  client_body_temp_path " << (dir / "tmp").string() << ";\n  proxy_temp_path "
                                      << (dir / "tmp").string() << ";\n  upstream llama { server " << upstream << "; keepalive 128; }\n"
                                      << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    location / {\n"
                                      << "      proxy_pass http://llama;\n      proxy_http_version 1.1;\n"
                                      << "      proxy_set_header Connection \"\";\n      proxy_set_header Authorization \"Bearer " << key
                                      << "\";\n"
                                      << "      proxy_buffering off;\n    }\n  }\n}\n";
    process_ = std::make_unique<Background>(std::vector<std::string>{"/usr/sbin/nginx", "-p", dir.string(), "-c",
                                                                     (dir / "nginx.conf").string(), "-e", (dir / "error.log").string()},
                                            dir / "out.log");
    if (!wait_http_ok(port_, "/health", std::chrono::seconds(10))) throw std::runtime_error("nginx did not start");
    workers_ = children_of(process_->pid());
}

double time_to_first_byte(uint16_t port, const std::string& model) {
    auto started = clock::now();
    test::HttpStream stream(
        "127.0.0.1", port, "POST", "/v1/chat/completions",
        R"({"model": ")" + model + R"(", "max_tokens": 1, "stream": true, "messages": [{"role": "user", "content": "hi"}]})");
    double ms = ms_since(started);
    if (stream.status() != 200) throw std::runtime_error("status " + std::to_string(stream.status()) + " for " + model);
    while (stream.next()) {
    }
    return ms;
}

struct EventReader::Impl {
    explicit Impl(uint16_t port) : stream("127.0.0.1", port, "GET", "/corral/events") {}
    test::HttpStream stream;
    std::string pending;
};

EventReader::EventReader(uint16_t port) : impl_(std::make_unique<Impl>(port)) {}
EventReader::~EventReader() = default;

bool EventReader::wait_for(const std::function<bool(const boost::json::object&)>& match, std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    for (;;) {
        for (auto end = impl_->pending.find("\n\n"); end != std::string::npos; end = impl_->pending.find("\n\n")) {
            auto event = impl_->pending.substr(0, end);
            impl_->pending.erase(0, end + 2);
            if (event.rfind("data: ", 0) != 0) continue;
            auto v = boost::json::parse(event.substr(6));
            if (v.is_object() && match(v.as_object())) return true;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return false;
        auto piece = impl_->stream.next(left);
        if (!piece) return false;
        impl_->pending += *piece;
    }
}

}  // namespace corral::bench
