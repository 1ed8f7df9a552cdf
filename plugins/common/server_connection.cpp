#include "server_connection.hpp"

#include "cloexec.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/un.h>

namespace corral::plugin_common {

namespace asio = boost::asio;
using generic_endpoint = asio::generic::stream_protocol::endpoint;

asio::awaitable<boost::system::error_code> connect_server(ServerStream& stream, const HttpEndpoint& endpoint) {
    constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
    generic_endpoint target;
    if (endpoint.is_unix()) {
        if (endpoint.socket_path.size() >= sizeof(sockaddr_un::sun_path)) co_return asio::error::name_too_long;
        target = asio::local::stream_protocol::endpoint(endpoint.socket_path);
    } else {
        boost::system::error_code not_ip;
        const auto address = asio::ip::make_address(endpoint.host, not_ip);
        if (!not_ip) {
            target = asio::ip::tcp::endpoint(address, endpoint.port);
        } else {
            asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
            auto [resolve_ec, results] = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                                         asio::ip::resolver_base::numeric_service, kAwait);
            if (resolve_ec) co_return resolve_ec;
            if (results.empty()) co_return asio::error::host_not_found;
            target = results.begin()->endpoint();
        }
    }
    boost::system::error_code ec;
    open_cloexec(stream.socket(), target.protocol(), ec);
    if (ec) co_return ec;
    auto [connect_ec] = co_await stream.async_connect(target, kAwait);
    if (connect_ec) co_return connect_ec;
    if (!endpoint.is_unix()) stream.socket().set_option(asio::ip::tcp::no_delay(true), ec);
    co_return boost::system::error_code{};
}

}  // namespace corral::plugin_common
