// A runner's socket directory (plugin_common::SocketDirectory): private, a fresh path per server,
// stale sockets taken over and live ones passed over, and only its own sockets removed.
#include "socket_directory.hpp"

#include <corral/sdk/error.hpp>
#include <corral/sdk/host.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace corral::plugin_common {
namespace {

namespace fs = std::filesystem;

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

// A directory too deep for a socket address: "unix" is refused, "auto" falls back to TCP and says so
// once per directory, not once per start (a runner may start a thousand servers).
TEST_F(SocketDirectoryTest, APathTooLongRefusesUnixAndWarnsOnceForAuto) {
    std::vector<std::string> warnings;
    corral_host_api api{};
    api.struct_size = sizeof api;
    api.host_ctx = &warnings;
    api.log = [](void* ctx, int32_t level, corral_str message) {
        if (level == static_cast<int32_t>(sdk::LogLevel::Warn))
            static_cast<std::vector<std::string>*>(ctx)->emplace_back(message.data, message.size);
    };
    const sdk::Host host(&api);
    SocketDirectory deep(root_ / std::string(100, 'd') / "sockets");
    try {
        deep.path_for(Transport::Unix, host);
        FAIL() << "no error";
    } catch (const sdk::Error& e) {
        EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
        EXPECT_NE(std::string(e.what()).find("set a shorter state_dir"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(deep.path_for(Transport::Auto, host));
    EXPECT_FALSE(deep.path_for(Transport::Auto, host));
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("servers listen on TCP ports instead"), std::string::npos) << warnings[0];
    SocketDirectory fine(root_ / "sockets");
    EXPECT_TRUE(fine.path_for(Transport::Unix, host));
}

TEST_F(SocketDirectoryTest, StaleSocketsAreRemovedAndLiveOnesKept) {
    SocketDirectory sockets(root_ / "sockets");
    EXPECT_EQ(sockets.remove_stale(), 0u);  // no directory yet
    fs::create_directories(root_ / "sockets");
    const auto dead = (root_ / "sockets" / "1-1.sock").string(), live = (root_ / "sockets" / "1-2.sock").string();
    socket_at(dead, false);
    const int listening = socket_at(live, true);
    std::ofstream(root_ / "sockets" / "notes.txt") << "not a socket";
    EXPECT_EQ(sockets.remove_stale(), 1u);
    EXPECT_FALSE(fs::exists(dead));
    EXPECT_TRUE(fs::exists(live));
    EXPECT_TRUE(fs::exists(root_ / "sockets" / "notes.txt"));
    ::close(listening);
}

}  // namespace
}  // namespace corral::plugin_common
