// external_endpoint: a runner for model servers someone else runs (another machine, a systemd unit,
// a hosted llama-server). "Starting" one checks that it answers and hands corral its URL; stopping
// it only forgets it. It shows the whole SDK surface in one small file: options with a schema,
// typed errors, logging, events, and a real health check (plain POSIX sockets, no other library).
//
// Config:
//   "runners": {"lan": {"plugin": "external_endpoint", "url": "http://10.0.0.5:8080"}}
//   "models":  {"big": {"path": "-", "runner": "lan", "runner_options": {"url": "http://10.0.0.6:8080"}}}
#include <corral/sdk/sdk.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <mutex>

namespace {

using corral::sdk::Error;
using corral::sdk::ProcessError;

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "url": {"type": "string", "minLength": 1, "description": "base URL of the server, http://host:port"},
    "timeout_ms": {"type": "integer", "minimum": 1, "description": "health check timeout"}
  }
})json";

struct Url {
    std::string host;
    std::string port;
};

Url parse_url(const std::string& url) {
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) != 0) throw corral::sdk::JsonPathError("url", "expected http://host:port, got \"" + url + "\"");
    auto rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return {rest, "80"};
    return {rest.substr(0, colon), rest.substr(colon + 1)};
}

// RAII for a socket descriptor.
class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// GET /health with a deadline; returns the HTTP status, or 0 when nothing answered.
int http_health_status(const Url& url, std::chrono::milliseconds timeout, std::string& why) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found); rc != 0) {
        why = gai_strerror(rc);
        return 0;
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
    Socket sock(::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (sock.get() < 0) {
        why = "socket() failed";
        return 0;
    }
    auto wait = [&](short events) {
        pollfd p{sock.get(), events, 0};
        return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && !(p.revents & (POLLERR | POLLHUP));
    };
    if (::connect(sock.get(), found->ai_addr, found->ai_addrlen) != 0 && (errno != EINPROGRESS || !wait(POLLOUT))) {
        why = "cannot connect";
        return 0;
    }
    const std::string request = "GET /health HTTP/1.0\r\nHost: " + url.host + "\r\n\r\n";
    if (::send(sock.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()) || !wait(POLLIN)) {
        why = "no answer";
        return 0;
    }
    char buf[64] = {};
    ssize_t n = ::recv(sock.get(), buf, sizeof buf - 1, 0);
    int status = 0;
    if (n <= 0 || std::sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) why = "not an HTTP answer";
    return status;
}

class ExternalEndpointRunner final : public corral::sdk::ProcessRunner {
public:
    ExternalEndpointRunner(corral::sdk::Host host, const boost::json::object& options) : host_(host) {
        corral::sdk::FieldReader r(boost::json::value(options), "");
        r.optional_or_keep("url", default_url_);
        int64_t timeout_ms = timeout_.count();
        r.optional_or_keep("timeout_ms", timeout_ms);
        timeout_ = std::chrono::milliseconds(timeout_ms);
        if (!default_url_.empty()) parse_url(default_url_);  // fail early on a malformed URL
    }

    corral::sdk::ProcessHandle start(const corral::sdk::ServerConfig& config) override {
        std::string url = default_url_;
        if (const auto* u = config.runner_options.if_contains("url"); u && u->is_string()) url = u->as_string().c_str();
        if (url.empty()) throw Error(ProcessError::Configuration, "no url: set it on the runner or in the model's runner_options");
        corral::sdk::ProcessHandle handle;
        handle.instance_id = config.instance_id;
        handle.model_name = config.model_name;
        handle.runner = "external_endpoint";
        handle.endpoint = url;
        handle.started_at_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        auto h = health(handle);
        if (h.state != corral::sdk::HealthState::Ok) throw Error(ProcessError::StartFailed, url + " is not ready: " + h.message);
        {
            std::lock_guard lock(mutex_);
            attached_[handle.instance_id] = handle;
        }
        host_.info("attached ", config.model_name, " to ", url);
        host_.emit_ready(handle);
        return handle;
    }

    void stop(const corral::sdk::ProcessHandle& handle, std::chrono::milliseconds) override {
        std::lock_guard lock(mutex_);
        if (attached_.erase(handle.instance_id) == 0) throw Error(ProcessError::NotRunning, handle.instance_id + " is not attached");
        host_.emit_exited(handle.instance_id, 0, std::nullopt, "detached (the external server keeps running)");
    }

    bool is_running(const corral::sdk::ProcessHandle& handle) override {
        std::lock_guard lock(mutex_);
        return attached_.count(handle.instance_id) != 0;
    }

    corral::sdk::ServerHealth health(const corral::sdk::ProcessHandle& handle) override {
        corral::sdk::ServerHealth h;
        std::string why;
        int status = http_health_status(parse_url(handle.endpoint), timeout_, why);
        if (status != 0) h.http_status = status;
        h.state = status == 200   ? corral::sdk::HealthState::Ok
                  : status == 503 ? corral::sdk::HealthState::Loading
                  : status == 0   ? corral::sdk::HealthState::Unreachable
                                  : corral::sdk::HealthState::Error;
        h.message = status == 0 ? why : "HTTP " + std::to_string(status);
        return h;
    }

    std::vector<corral::sdk::ProcessHandle> list_running() override {
        std::lock_guard lock(mutex_);
        std::vector<corral::sdk::ProcessHandle> out;
        for (const auto& [id, h] : attached_) out.push_back(h);
        return out;
    }

private:
    corral::sdk::Host host_;
    std::string default_url_;
    std::chrono::milliseconds timeout_{2000};
    std::mutex mutex_;
    std::map<std::string, corral::sdk::ProcessHandle> attached_;
};

}  // namespace

CORRAL_RUNNER_PLUGIN(ExternalEndpointRunner, "external_endpoint", "1.0.0", "Model servers run elsewhere, attached by URL", kSchema,
                     CORRAL_CAP_EXIT_EVENTS);
