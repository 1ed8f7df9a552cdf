// The llama_server runner's choice of a Unix socket or a TCP port, its socket directory, and the
// endpoint form the host reads ("unix:///path").
#include "server_socket.hpp"
#include "http_health.hpp"
#include "llama_options.hpp"
#include "server_features.hpp"

#include <corral/sdk/error.hpp>
#include <corral/sdk/json.hpp>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace corral::llama {
namespace {

namespace fs = std::filesystem;

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

class SocketDirectoryTest : public ::testing::Test {
protected:
    SocketDirectoryTest() : root_(fs::temp_directory_path() / ("corral-sockets-" + std::to_string(::getpid()))) {
        fs::remove_all(root_);
        fs::create_directories(root_);
    }
    ~SocketDirectoryTest() override { fs::remove_all(root_); }

    static sockaddr_un address_of(const std::string& path) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        return address;
    }
    // A socket file at `path`, listening when `listen` (else left as a dead server leaves it). Returns its fd (-1 when closed).
    static int socket_at(const std::string& path, bool listen) {
        const sockaddr_un address = address_of(path);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
        if (listen) {
            ::listen(fd, 0);  // one pending connection fills its backlog
            return fd;
        }
        ::close(fd);
        return -1;
    }

    fs::path root_;
};

TEST_F(SocketDirectoryTest, ItIsMadePrivateAndGivesEachServerAFreshPath) {
    fs::create_directories(root_ / "sockets");
    fs::permissions(root_ / "sockets", fs::perms(0755));
    SocketDirectory sockets(root_ / "sockets");
    const auto pid = std::to_string(::getpid());
    // Left by a server that is gone (an earlier process of this pid): taken over.
    socket_at((root_ / "sockets" / (pid + "-1.sock")).string(), false);
    // A live one is passed over, even with its backlog full (a blocking probe would wait there until
    // the server accepted).
    const int live = socket_at((root_ / "sockets" / (pid + "-2.sock")).string(), true);
    const int pending = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un live_address = address_of((root_ / "sockets" / (pid + "-2.sock")).string());
    ASSERT_EQ(::connect(pending, reinterpret_cast<const sockaddr*>(&live_address), sizeof live_address), 0) << std::strerror(errno);

    auto first = sockets.fresh_path();
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, (root_ / "sockets" / (pid + "-1.sock")).string());
    EXPECT_FALSE(fs::exists(*first));
    struct stat st {};
    ASSERT_EQ(::stat((root_ / "sockets").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    auto second = sockets.fresh_path();
    ASSERT_TRUE(second);
    EXPECT_EQ(*second, (root_ / "sockets" / (pid + "-3.sock")).string());
    ::close(pending);
    ::close(live);

    // remove(): a socket in the directory only.
    socket_at(*second, false);
    const auto outside = (root_ / "other.sock").string();
    socket_at(outside, false);
    sockets.remove(outside);
    EXPECT_TRUE(fs::exists(outside));
    sockets.remove(*second);
    EXPECT_FALSE(fs::exists(*second));
}

TEST_F(SocketDirectoryTest, ARelativeDirectoryIsMadeAbsolute) {
    // An endpoint names an absolute path: the host must not resolve it against its own directory.
    SocketDirectory relative("state/../state/sockets");
    EXPECT_TRUE(relative.dir().is_absolute());
    EXPECT_EQ(relative.dir(), fs::current_path() / "state" / "sockets");
}

TEST_F(SocketDirectoryTest, APathTooLongForASocketAddressOrADirectoryNotOursIsRefused) {
    SocketDirectory deep(root_ / std::string(100, 'd') / "sockets");
    EXPECT_FALSE(deep.fresh_path());

    fs::create_directories(root_ / "elsewhere");
    fs::create_directory_symlink(root_ / "elsewhere", root_ / "link");
    SocketDirectory linked(root_ / "link");
    EXPECT_THROW(linked.fresh_path(), sdk::Error);
}

}  // namespace
}  // namespace corral::llama
