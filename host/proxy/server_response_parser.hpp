// The parser for a model server's response on the relay, reading straight from the connection's
// buffer: the client's response head is written as the server's fields are parsed (message_head's
// rules), the few facts the relay decides on are kept aside (the status, whether the body is an
// event stream, the framing), and the body goes into the caller's buffer a piece at a time.
//
// Two ways to read a response. The fast path takes the shape nearly every answer on the relay has
// (an HTTP/1.1 or 1.0 status line of a final status with a body, plain fields, a body framed by
// one Content-Length, whole within a few reads) in one pass with no per-field lookups; Beast's parser
// (GeneralResponseParser) reads everything else: chunked bodies, interim and bodiless statuses,
// Connection and Transfer-Encoding fields, HEAD, obs-fold, any byte outside printable ASCII. The
// fast path accepts only what Beast accepts and reads it as Beast does (a differential test holds
// it to that); when in doubt it hands the response to Beast from its first byte, so a response is
// read by one parser or the other, never half and half.
#pragma once

#include "proxy/general_response_parser.hpp"
#include "proxy/message_head.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace corral::proxy {

class ServerResponseParser {
public:
    // `corral_sets`: the headers corral adds to this response itself (the exchange's extra
    // headers); the server's fields of those names do not cross. Must outlive the parser.
    // `head_request`: the response answers HEAD, so it has no body whatever its Content-Length says.
    ServerResponseParser(const HeaderList& corral_sets, bool head_request);

    // Parses the header from `buffer`, consuming what it parsed. ec: would_block when it needs
    // more bytes; `ended` says how the connection's last read ended, once it did (eof, a reset),
    // and turns that into the error Beast gives (end_of_stream, partial_message, the reset).
    void read_header(boost::beast::flat_buffer& buffer, const boost::system::error_code& ended, boost::system::error_code& ec);
    // Parses body from `buffer` into the body_into buffer (body_filled says how much), the same way.
    // http::error::need_buffer when that buffer is full. Every chunk of a chunked body that `buffer`
    // holds goes into one piece (a stream's tokens that came in one read leave in one write); once
    // some body is in the piece, a wait for more or an error is reported by the next call, so what
    // was read is relayed first.
    void read_body(boost::beast::flat_buffer& buffer, const boost::system::error_code& ended, boost::system::error_code& ec);

    // Where the body's next bytes go.
    void body_into(std::span<char> buffer);
    // How many bytes of the last body_into buffer hold body.
    std::size_t body_filled() const;

    // Once the header is parsed:
    int status() const;
    // Whether the body is an event stream (the first Content-Type is text/event-stream).
    bool event_stream() const;
    // The client's response head so far: its status line and the server's fields that cross.
    // end_client_response_head completes it (it may be moved out).
    std::string& client_head();
    bool chunked() const;
    std::optional<std::uint64_t> content_length() const;
    bool keep_alive() const;
    // Whether the whole response has been read.
    bool is_done() const;
    // Whether Beast's parser read this response (the fast path declined it).
    bool general() const { return general_.has_value(); }

private:
    enum class Fast { Accepted, NeedMore, Declined };
    // One pass over `in` for the fast path's shape; `used`: the header's bytes when Accepted.
    Fast parse_fast(std::string_view in, std::size_t& used);
    GeneralResponseParser& use_general();

    const HeaderList& corral_sets_;
    bool head_request_;
    std::optional<GeneralResponseParser> general_;  // once set, it reads the rest of the response
    boost::system::error_code deferred_;            // the general parser's error, after the body it read before it
    // The fast path's reading (general_ empty):
    bool header_done_ = false;
    static constexpr int kFastHeaderWaits = 4;  // reads the fast path waits for a header before Beast takes it
    int header_waits_ = 0;
    int status_ = 0;
    bool event_stream_ = false;
    bool keep_alive_ = false;
    std::uint64_t content_length_ = 0;
    std::uint64_t remaining_ = 0;  // body bytes still to come
    std::string head_;
    std::span<char> body_;
    std::size_t filled_ = 0;
};

}  // namespace corral::proxy
