// The general parser for a model server's response on the relay: Beast's basic_parser, for every
// response ServerResponseParser's fast path leaves to it (chunked bodies, interim responses,
// Connection fields, HEAD, obs-fold, odd bytes). It keeps no fields container: as each header
// field is parsed, the ones that cross to the client are written straight into the client's
// response head (message_head's rules), and the few facts the relay decides on (the status,
// whether the body is an event stream) are kept aside. Beast does the parsing and the framing
// (Content-Length, chunked, keep-alive); the body goes into the caller's buffer as with Beast's
// buffer_body. A relayed response costs no allocation per field and no second pass over the header.
#pragma once

#include "proxy/message_head.hpp"

#include <boost/beast/http/basic_parser.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corral::proxy {

class GeneralResponseParser final : public boost::beast::http::basic_parser<false> {
public:
    // `corral_sets`: the headers corral adds to this response itself (the exchange's extra
    // headers); the server's fields of those names do not cross. Must outlive the parser.
    explicit GeneralResponseParser(const HeaderList& corral_sets) : corral_sets_(corral_sets) {}

    // The status code, once the header is parsed.
    int status() const { return status_; }
    // Whether the body is an event stream (the first Content-Type is text/event-stream).
    bool event_stream() const { return event_stream_; }
    // The client's response head so far: its status line and the server's fields that cross,
    // once the header is parsed. end_client_response_head completes it (it may be moved out).
    std::string& client_head() { return head_; }

    // Where the body's next bytes go: parsing ends with http::error::need_buffer once `buffer`
    // is full (or when none was given), as with Beast's buffer_body.
    void body_into(std::span<char> buffer) {
        body_ = buffer;
        filled_ = 0;
    }
    // How many bytes of the last body_into buffer hold body.
    std::size_t body_filled() const { return filled_; }

private:
    void on_request_impl(boost::beast::http::verb, boost::beast::string_view, boost::beast::string_view, int,
                         boost::beast::error_code& ec) override;
    void on_response_impl(int code, boost::beast::string_view reason, int version, boost::beast::error_code& ec) override;
    void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string, boost::beast::string_view value,
                       boost::beast::error_code& ec) override;
    void on_header_impl(boost::beast::error_code& ec) override;
    void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, boost::beast::error_code& ec) override;
    std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
    void on_chunk_header_impl(std::uint64_t size, boost::beast::string_view extensions, boost::beast::error_code& ec) override;
    std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body, boost::beast::error_code& ec) override;
    void on_finish_impl(boost::beast::error_code& ec) override;

    std::size_t take_body(boost::beast::string_view body, boost::beast::error_code& ec);

    const HeaderList& corral_sets_;
    int status_ = 0;
    bool event_stream_ = false;
    bool content_type_seen_ = false;
    std::string head_;
    std::size_t fields_begin_ = 0;                // where the relayed fields start in head_
    std::vector<std::string> connection_listed_;  // names a Connection field lists (hop-by-hop too)
    std::span<char> body_;
    std::size_t filled_ = 0;
};

}  // namespace corral::proxy
