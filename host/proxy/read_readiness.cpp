#include "proxy/read_readiness.hpp"

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define CORRAL_READ_READINESS 1
#include <boost/asio/detail/epoll_reactor.hpp>
#endif

namespace corral::proxy {
namespace {

using Socket = boost::asio::ip::tcp::socket;
using ServerSocket = plugin_common::ServerStream::socket_type;

#ifdef CORRAL_READ_READINESS
using boost::asio::detail::epoll_reactor;

// The socket's implementation: a protected member, named through a derived class.
template <class AnySocket>
struct SocketAccess : AnySocket {
    static constexpr auto implementation = &SocketAccess::impl_;
};

// descriptor_state::try_speculative_ (private): an explicit instantiation may name it.
using TrySpeculative = bool (epoll_reactor::descriptor_state::*)[epoll_reactor::max_ops];
struct TrySpeculativeTag {
    friend TrySpeculative member(TrySpeculativeTag);
};
template <TrySpeculative M>
struct Expose {
    friend TrySpeculative member(TrySpeculativeTag) { return M; }
};
template struct Expose<&epoll_reactor::descriptor_state::try_speculative_>;

// The reactor's "try a read at once" flag of `socket` (null before it is registered).
template <class AnySocket>
bool* read_flag(AnySocket& socket) {
    epoll_reactor::descriptor_state* state = (socket.*SocketAccess<AnySocket>::implementation).get_implementation().reactor_data_;
    return state ? &(state->*member(TrySpeculativeTag{}))[epoll_reactor::read_op] : nullptr;
}

bool may_hold_data(Socket& socket) {
    const bool* flag = read_flag(socket);
    return !flag || *flag;
}

}  // namespace

void mark_drained(Socket& socket) {
    if (bool* flag = read_flag(socket)) *flag = false;
}

void mark_drained(ServerSocket& socket) {
    if (bool* flag = read_flag(socket)) *flag = false;
}
#else
bool may_hold_data(Socket&) {
    return true;
}
}  // namespace

void mark_drained(Socket&) {}
void mark_drained(ServerSocket&) {}
#endif

bool read_now(Socket& socket, boost::asio::mutable_buffer buffer, std::size_t& n, boost::system::error_code& ec) {
    if (!may_hold_data(socket)) return false;
    n = socket.read_some(buffer, ec);
    if (ec == boost::asio::error::would_block) {
        ec = {};
        n = 0;
        mark_drained(socket);
        return false;
    }
    if (!ec && n < buffer.size()) mark_drained(socket);
    return true;
}

void read_waited(Socket& socket, std::size_t asked, std::size_t n, const boost::system::error_code& ec) {
    if (!ec && n < asked) mark_drained(socket);
}

}  // namespace corral::proxy
