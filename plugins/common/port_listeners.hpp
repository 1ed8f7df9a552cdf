// Who listens on a TCP port of this machine, from the kernel's socket tables (/proc/net/tcp and
// tcp6): the owner of each listening socket, so a runner can tell its own server's listener from
// another user's on the port it chose. Same network namespace as the reader, as a local runner's
// servers are.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::plugin_common {

struct PortListener {
    std::string address;  // as Asio writes it: "127.0.0.1", "0.0.0.0", "::1", "::"
    uint16_t port = 0;
    uid_t uid = 0;
};

// The listening sockets (state 0A) of one table's text; `ipv6` for tcp6's addresses. Lines that do
// not parse are skipped.
std::vector<PortListener> parse_port_listeners(std::string_view table, bool ipv6);

// The owner of a socket listening on `port` that takes connections to `address` (the same address,
// or any address of its family) and is not `self`: nullopt when every such listener is self's, or
// none listens yet. An any-address, or one that is not an IP literal, matches every listener on
// the port.
std::optional<uid_t> foreign_listener(const std::string& address, uint16_t port, uid_t self, const std::string& proc_net = "/proc/net");
// The same from the two tables' text (another machine's, read there).
std::optional<uid_t> foreign_listener_in(std::string_view tcp, std::string_view tcp6, const std::string& address, uint16_t port,
                                         uid_t self);

}  // namespace corral::plugin_common
