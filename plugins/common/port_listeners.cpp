#include "port_listeners.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace corral::plugin_common {

namespace {

bool hex_u32(std::string_view text, uint32_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
    return ec == std::errc() && end == text.data() + text.size();
}

// "0100007F:1F90": the address as the kernel stores it (32-bit words in this machine's byte order),
// the port as a number.
bool parse_endpoint(std::string_view text, bool ipv6, PortListener& out) {
    const auto colon = text.find(':');
    const std::size_t words = ipv6 ? 4 : 1;
    if (colon != words * 8) return false;
    std::array<unsigned char, 16> bytes{};
    for (std::size_t w = 0; w < words; ++w) {
        uint32_t word = 0;
        if (!hex_u32(text.substr(w * 8, 8), word)) return false;
        std::memcpy(bytes.data() + w * 4, &word, 4);  // the kernel's in-memory order is network order
    }
    uint32_t port = 0;
    if (!hex_u32(text.substr(colon + 1), port) || port > 0xFFFF) return false;
    if (ipv6) {
        out.address = boost::asio::ip::address_v6(bytes).to_string();
    } else {
        boost::asio::ip::address_v4::bytes_type v4{};
        std::memcpy(v4.data(), bytes.data(), 4);
        out.address = boost::asio::ip::address_v4(v4).to_string();
    }
    out.port = static_cast<uint16_t>(port);
    return true;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

std::vector<PortListener> parse_port_listeners(std::string_view table, bool ipv6) {
    std::vector<PortListener> out;
    std::istringstream lines{std::string(table)};
    std::string line;
    std::getline(lines, line);  // the column titles
    while (std::getline(lines, line)) {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues, timer, retransmits;
        uid_t uid = 0;
        if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid)) continue;
        if (state != "0A") continue;  // TCP_LISTEN
        PortListener listener;
        if (!parse_endpoint(local, ipv6, listener)) continue;
        listener.uid = uid;
        out.push_back(std::move(listener));
    }
    return out;
}

std::optional<uid_t> foreign_listener(const std::string& address, uint16_t port, uid_t self, const std::string& proc_net) {
    return foreign_listener_in(read_file(proc_net + "/tcp"), read_file(proc_net + "/tcp6"), address, port, self);
}

std::optional<uid_t> foreign_listener_in(std::string_view tcp, std::string_view tcp6, const std::string& address, uint16_t port,
                                         uid_t self) {
    boost::system::error_code ec;
    const auto wanted = boost::asio::ip::make_address(address, ec);
    for (const bool ipv6 : {false, true}) {
        for (const auto& l : parse_port_listeners(ipv6 ? tcp6 : tcp, ipv6)) {
            if (l.port != port || l.uid == self) continue;
            auto at = boost::asio::ip::make_address(l.address);
            // An IPv6 socket bound to an IPv4-mapped address takes that IPv4 address's connections.
            if (at.is_v6() && at.to_v6().is_v4_mapped()) at = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, at.to_v6());
            // A listener on the family's any-address takes the connections too (for tcp6's, IPv4
            // ones as well unless it is v6-only, which the table does not say: counted); a server
            // on the any-address is reached through every address, so any listener on the port is.
            if (ec || at == wanted || at.is_unspecified() || wanted.is_unspecified()) return l.uid;
        }
    }
    return std::nullopt;
}

}  // namespace corral::plugin_common
