// nginx's rule for reads, which Asio 1.81 lacks, for the reads of a client's requests: a read
// that came back short drained the socket, so the next read waits for epoll's word instead of
// trying first. Asio's reactor tries a read at once whenever epoll reported the socket readable
// since a read last found nothing; it learns "nothing" only from a read that fails (EAGAIN). A
// kept-alive client's next request is never there yet when corral has answered the last one, so
// without this rule every relayed request costs a read that can only fail (bench/README.md).
//
// How: a read is done here at once (a non-blocking recv) only while the reactor would try one;
// a short read marks the socket drained in the reactor's own per-socket flag, and a read that
// must wait is left to the reactor, which performs it when epoll reports data. Marking is safe
// only right after a read of ours or one the reactor just performed (no epoll_wait in between
// that could have seen newer data): new data after that read raises a new edge, which sets the
// flag again. The flag is private to Asio's epoll reactor, reached through the rule that an
// explicit instantiation may name private members; the build checks the Boost version it was
// written for, and on any other reactor the functions do nothing (Asio's behaviour).
//
// What it cannot see: a FIN that came with the last bytes read (the edge that announced them
// announced it too; nginx registers EPOLLRDHUP for this, Asio does not). So it serves only the
// client's side, where a missed FIN costs nothing but time: a client that half-closes after a
// kept-alive request may be closed by the idle deadline instead of at once (one that closes
// outright answers corral's next write with a reset, which epoll reports). A model server's
// connection keeps Asio's reads while a response comes in: a server that ends it early (a crash,
// a body cut short) with its FIN in the last bytes' edge would leave the relay waiting forever.
// Only the read that completes a response framed by Content-Length drains it (forward.cpp): the
// connection then goes back to the pool, and its next use starts with corral's write of a request,
// which a server that has closed answers with a reset (epoll reports it: the one retry on a reused
// connection follows). Not after a streamed response: llama-server ends those connections with a
// FIN (keep-alive announced or not), and one that only half-closed would never answer.
#pragma once

#include "server_connection.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>

#include <cstddef>

namespace corral::proxy {

// The first step of a read on a socket in non-blocking mode: when the reactor would try a read
// at once, reads now. True when that ended the read (`n` bytes, or `ec`, eof included); false
// when the socket is drained: the caller awaits async_read_some on it (the reactor performs it
// when epoll reports data, with no read first) and then calls read_waited.
bool read_now(boost::asio::ip::tcp::socket& socket, boost::asio::mutable_buffer buffer, std::size_t& n, boost::system::error_code& ec);
// After the asynchronous read read_now left to the reactor, of `asked` bytes: a short one drained the socket.
void read_waited(boost::asio::ip::tcp::socket& socket, std::size_t asked, std::size_t n, const boost::system::error_code& ec);
// Marks the socket drained, for a caller that decides later than its read: only when the read
// that came back short was the socket's last event (no wait since, so no epoll_wait saw newer data).
// For a client's socket and a model server's (TCP or Unix).
void mark_drained(boost::asio::ip::tcp::socket& socket);
void mark_drained(plugin_common::ServerStream::socket_type& socket);

}  // namespace corral::proxy
