// The llama_server runner's choice of a Unix socket or a TCP port, and the endpoint form the host
// reads ("unix:///path"). The socket directory: socket_directory_test.cpp.
#include "server_socket.hpp"
#include "http_health.hpp"
#include "llama_options.hpp"
#include "server_features.hpp"

#include <corral/sdk/error.hpp>
#include <corral/sdk/json.hpp>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace corral::llama {
namespace {

ServerFeatures with_unix_sockets(bool yes) {
    ServerFeatures f;
    f.unix_socket = yes;
    return f;
}

TEST(ServerSocket, AutoTakesAUnixSocketWhereTheBinaryHasThemAndNoPortIsAskedFor) {
    sdk::ServerConfig config;
    EXPECT_TRUE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(true), {}));
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(false), {}));
    EXPECT_FALSE(listens_on_unix_socket(Transport::Tcp, config, with_unix_sockets(true), {}));
    config.host = "::1";
    EXPECT_TRUE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(true), {}));
    config.host = "0.0.0.0";  // meant to be reached over the network
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(true), {}));
    config.host = "127.0.0.1";
    config.port = 8080;  // a port of its own (corral run --port)
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(true), {}));
}

TEST(ServerSocket, AutoLeavesTheSocketToTheUsersOwnHostOrPortArguments) {
    // extra_args come last: a server told --host 0.0.0.0 there would leave the socket unbound.
    sdk::ServerConfig config;
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(true), {"--host", "0.0.0.0"}));
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(true), {"--port=9000"}));
    EXPECT_TRUE(listens_on_unix_socket(Transport::Auto, config, with_unix_sockets(true), {"--threads-http", "8"}));
    try {
        listens_on_unix_socket(Transport::Unix, config, with_unix_sockets(true), {"--flash-attn", "on", "--host", "0.0.0.0"});
        FAIL() << "no error";
    } catch (const sdk::Error& e) {
        EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
        EXPECT_NE(std::string(e.what()).find("--host in extra_args"), std::string::npos) << e.what();
    }
}

TEST(ServerSocket, UnixIsAConfigurationErrorWhereItCannotBe) {
    sdk::ServerConfig config;
    EXPECT_TRUE(listens_on_unix_socket(Transport::Unix, config, with_unix_sockets(true), {}));
    try {
        listens_on_unix_socket(Transport::Unix, config, with_unix_sockets(false), {});
        FAIL() << "no error";
    } catch (const sdk::Error& e) {
        EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
        EXPECT_NE(std::string(e.what()).find("--host PATH.sock"), std::string::npos) << e.what();
    }
    config.port = 8080;
    EXPECT_THROW(listens_on_unix_socket(Transport::Unix, config, with_unix_sockets(true), {}), sdk::Error);
}

TEST(ServerSocket, TheHelpTextTellsWhetherABuildListensOnUnixSockets) {
    // Debian's 0.7.0, an earlier build (wrapped as its help prints it), and one from before the option.
    EXPECT_TRUE(parse_help("--host HOST   IP addresses to listen on, comma-separated, or UNIX socket paths\n"
                           "              ending in .sock; with multiple TCP addresses, :: binds IPv6 only;")
                    .unix_socket);
    EXPECT_TRUE(parse_help("--host HOST                             ip address to listen, or bind to an UNIX socket if the address ends\n"
                           "                                        with .sock (default: 127.0.0.1)")
                    .unix_socket);
    EXPECT_FALSE(parse_help("--host HOST   ip address to listen (default: 127.0.0.1)").unix_socket);
}

TEST(ServerSocket, TheTransportOptionIsReadAndCheckedWithItsPath) {
    EXPECT_EQ(parse_options({}, boost::json::parse(R"({"transport": "tcp"})").as_object(), "options").transport, Transport::Tcp);
    EXPECT_EQ(parse_options({}, boost::json::parse(R"({"transport": "unix"})").as_object(), "runner_options").transport, Transport::Unix);
    EXPECT_EQ(parse_options({}, boost::json::object{}, "options").transport, Transport::Auto);
    try {
        parse_options({}, boost::json::parse(R"({"transport": "udp"})").as_object(), "options");
        FAIL() << "no error";
    } catch (const sdk::JsonPathError& e) {
        EXPECT_NE(std::string(e.what()).find("options.transport"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("\"udp\""), std::string::npos) << e.what();
    }
}

TEST(ServerSocket, TheEndpointOfAUnixSocketIsReadAndWritten) {
    auto unix_endpoint = plugin_common::parse_http_endpoint("unix:///run/corral/1-2.sock");
    ASSERT_TRUE(unix_endpoint);
    EXPECT_TRUE(unix_endpoint->is_unix());
    EXPECT_EQ(unix_endpoint->socket_path, "/run/corral/1-2.sock");
    EXPECT_EQ(plugin_common::format_http_endpoint(*unix_endpoint), "unix:///run/corral/1-2.sock");
    EXPECT_EQ(plugin_common::host_header(*unix_endpoint), "localhost");
    EXPECT_FALSE(plugin_common::parse_http_endpoint("unix://relative.sock"));
    EXPECT_FALSE(plugin_common::parse_http_endpoint("unix://"));

    auto tcp = plugin_common::parse_http_endpoint("http://[::1]:8080/");
    ASSERT_TRUE(tcp);
    EXPECT_FALSE(tcp->is_unix());
    EXPECT_EQ(plugin_common::format_http_endpoint(*tcp), "http://[::1]:8080");
    EXPECT_EQ(plugin_common::host_header(*tcp), "[::1]:8080");
    // From the text, as the relay takes it (no parse, no copy).
    EXPECT_EQ(plugin_common::host_header(std::string_view("http://[::1]:8080/")), "[::1]:8080");
    EXPECT_EQ(plugin_common::host_header(std::string_view("http://127.0.0.1:9000")), "127.0.0.1:9000");
    EXPECT_EQ(plugin_common::host_header(std::string_view("unix:///run/corral/1-2.sock")), "localhost");
}

}  // namespace
}  // namespace corral::llama
