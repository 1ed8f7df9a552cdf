#include "port_allocator.hpp"

#include "cloexec.hpp"

#include <corral/sdk/error.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace corral::plugin_common {

uint16_t PortAllocator::allocate(const std::string& host) {
    namespace asio = boost::asio;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) address = asio::ip::make_address("127.0.0.1");
    asio::io_context ioc;
    for (int attempt = 0; attempt < 64; ++attempt) {
        asio::ip::tcp::acceptor probe(ioc);
        open_cloexec(probe, address.is_v6() ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), ec);
        if (!ec) probe.bind(asio::ip::tcp::endpoint(address, 0), ec);
        if (ec) break;
        uint16_t port = probe.local_endpoint().port();
        std::lock_guard lock(mutex_);
        if (reserved_.insert(port).second) return port;
    }
    throw sdk::Error(sdk::ProcessError::ResourceExhausted, "cannot find a free port on " + host + (ec ? ": " + ec.message() : ""));
}

void PortAllocator::release(uint16_t port) {
    std::lock_guard lock(mutex_);
    reserved_.erase(port);
}

}  // namespace corral::plugin_common
