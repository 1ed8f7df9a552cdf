// One simulated model server: a real HTTP/1.1 server, on a TCP port or a Unix socket, speaking the
// parts of llama-server's API that tests and demos need (/health, /v1/models, /v1/chat/completions,
// /v1/completions with SSE streaming, /tokenize). All of its work runs on the runner's shared I/O
// context.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "mock_options.hpp"

#include <corral/sdk/types.hpp>

#include <boost/asio.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

namespace corral::mock {

class MockServer : public std::enable_shared_from_this<MockServer> {
public:
    struct Callbacks {
        std::function<void(const std::string& line)> log;  // one line per request
        std::function<void(std::optional<int> exit_code, std::optional<int> signal, const std::string& message)> exited;
        std::function<void()> ready;
    };

    MockServer(boost::asio::io_context& ioc, sdk::ServerConfig config, MockOptions options, Callbacks callbacks);

    // Binds the Unix socket `socket_path` or, where it is empty, config.host:config.port (0 or none:
    // any free port), and starts accepting and loading. Returns the endpoint as the host reads it
    // ("http://host:port", "unix:///path"). Throws sdk::Error(StartFailed) if it cannot be bound.
    std::string start(const std::string& socket_path = {});
    // The bound TCP port; 0 on a Unix socket.
    uint16_t port() const noexcept { return port_; }

    // Stops the server as a SIGTERM would (exit code 0), from any thread but the I/O thread;
    // returns once its sockets are closed. No-op when it is already gone.
    void stop();

    bool alive() const noexcept { return alive_; }
    bool ready() const noexcept { return ready_; }
    const sdk::ServerConfig& config() const noexcept { return config_; }

private:
    // Either transport's sockets: TCP or Unix, told apart only where the bytes cannot tell.
    using Protocol = boost::asio::generic::stream_protocol;
    using Stream = Protocol::socket;

    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> session(Stream socket);
    bool authorized(const boost::beast::http::request<boost::beast::http::string_body>& req, const std::string& path) const;
    // Closes the listener and every connection; reports the exit once. I/O thread only.
    void shut_down(std::optional<int> exit_code, std::optional<int> signal, const std::string& message, bool reset);

    boost::asio::io_context& ioc_;
    boost::asio::basic_socket_acceptor<Protocol> acceptor_;
    boost::asio::steady_timer load_timer_;
    sdk::ServerConfig config_;
    MockOptions options_;
    Callbacks callbacks_;
    std::atomic<bool> alive_{false};
    std::atomic<bool> ready_{false};
    uint16_t port_ = 0;                         // set by start()
    uint32_t requests_ = 0;                     // I/O thread only
    std::list<std::weak_ptr<Stream>> streams_;  // open connections; I/O thread only
};

}  // namespace corral::mock
