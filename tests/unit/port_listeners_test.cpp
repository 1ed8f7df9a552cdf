// The kernel's socket tables as /proc/net shows them (port_listeners.hpp): listening sockets only,
// addresses and ports decoded, the owner's uid; and which listener takes connections to an address.
#include "port_listeners.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace corral::plugin_common {
namespace {

TEST(PortListeners, TheKernelsTablesAreRead) {
    const std::string tcp =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3015889 1 0 100 0 0 10 0\n"
        "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2000 1 0 100 0 0 10 0\n"
        "   2: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 3015890 1 0 20 4 30 10 -1\n"
        "   3: garbage\n";
    const auto v4 = parse_port_listeners(tcp, false);
    ASSERT_EQ(v4.size(), 2u);
    EXPECT_EQ(v4[0].address, "127.0.0.1");
    EXPECT_EQ(v4[0].port, 8080);
    EXPECT_EQ(v4[0].uid, 1000u);
    EXPECT_EQ(v4[1].address, "0.0.0.0");
    EXPECT_EQ(v4[1].port, 22);
    const std::string any6(32, '0');
    const std::string tcp6 =
        "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode\n"
        "   0: 00000000000000000000000001000000:1F91 " +
        any6 +
        ":0000 0A 00000000:00000000 00:00000000 00000000 998 0 41\n"
        "   1: " +
        any6 + ":1F92 " + any6 +
        ":0000 0A 00000000:00000000 00:00000000 00000000 997 0 42\n"
        "   2: 0000000000000000FFFF00000100007F:1F93 " +
        any6 + ":0000 0A 00000000:00000000 00:00000000 00000000 996 0 43\n";
    const auto v6 = parse_port_listeners(tcp6, true);
    ASSERT_EQ(v6.size(), 3u);
    EXPECT_EQ(v6[0].address, "::1");
    EXPECT_EQ(v6[0].port, 8081);
    EXPECT_EQ(v6[0].uid, 998u);
    EXPECT_EQ(v6[1].address, "::");
    EXPECT_EQ(v6[2].address, "::ffff:127.0.0.1");

    const auto dir = std::filesystem::temp_directory_path() / ("corral-port-listeners-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "tcp") << tcp;
    std::ofstream(dir / "tcp6") << tcp6;
    EXPECT_EQ(foreign_listener("127.0.0.1", 8080, 0, dir.string()), 1000u);
    EXPECT_EQ(foreign_listener("127.0.0.1", 8080, 1000, dir.string()), std::nullopt) << "our own";
    EXPECT_EQ(foreign_listener("127.0.0.2", 8080, 0, dir.string()), std::nullopt) << "another address";
    EXPECT_EQ(foreign_listener("0.0.0.0", 8080, 0, dir.string()), 1000u) << "a server on every address meets every listener";
    EXPECT_EQ(foreign_listener("127.0.0.1", 22, 1000, dir.string()), 0u) << "the any-address takes it";
    EXPECT_EQ(foreign_listener("::1", 8081, 0, dir.string()), 998u);
    EXPECT_EQ(foreign_listener("127.0.0.1", 8082, 0, dir.string()), 997u) << "tcp6's any-address may take IPv4 too";
    EXPECT_EQ(foreign_listener("localhost", 8080, 0, dir.string()), 1000u) << "a name: any listener on the port";
    EXPECT_EQ(foreign_listener("127.0.0.1", 8083, 0, dir.string()), 996u) << "an IPv4-mapped address is that IPv4 address";
    EXPECT_EQ(foreign_listener("127.0.0.2", 8083, 0, dir.string()), std::nullopt);
    EXPECT_EQ(foreign_listener("127.0.0.1", 9999, 0, dir.string()), std::nullopt) << "nobody listens";
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace corral::plugin_common
