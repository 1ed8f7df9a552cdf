#include "proxy/general_response_parser.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>
#include <cstring>

namespace corral::proxy {

namespace beast = boost::beast;
namespace http = beast::http;

void GeneralResponseParser::on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code& ec) {
    ec = http::error::bad_method;  // never called: this parser reads responses
}

void GeneralResponseParser::on_response_impl(int code, beast::string_view reason, int, beast::error_code& ec) {
    ec = {};
    status_ = code;
    head_.clear();
    head_.reserve(384);
    append_status_line(head_, code, std::string_view(reason.data(), reason.size()));
    fields_begin_ = head_.size();
}

void GeneralResponseParser::on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                                          beast::error_code& ec) {
    ec = {};
    const std::string_view n(name_string.data(), name_string.size());
    const std::string_view v(value.data(), value.size());
    if (name == http::field::connection) {
        for (const auto& token : http::token_list(value)) connection_listed_.emplace_back(token.data(), token.size());
    } else if (name == http::field::content_type && !content_type_seen_) {
        content_type_seen_ = true;
        event_stream_ = is_event_stream(v);
    }
    if (relayed_to_client(n, corral_sets_)) append_field(head_, n, v);
}

void GeneralResponseParser::on_header_impl(beast::error_code& ec) {
    ec = {};
    // A Connection field may come after the fields it lists: those go now (rare).
    if (!connection_listed_.empty()) drop_fields(head_, fields_begin_, connection_listed_);
}

void GeneralResponseParser::on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code& ec) {
    ec = {};
}

std::size_t GeneralResponseParser::take_body(beast::string_view body, beast::error_code& ec) {
    const std::size_t n = std::min(body.size(), body_.size() - filled_);
    if (n > 0) std::memcpy(body_.data() + filled_, body.data(), n);
    filled_ += n;
    if (n < body.size())
        ec = http::error::need_buffer;
    else
        ec = {};
    return n;
}

std::size_t GeneralResponseParser::on_body_impl(beast::string_view body, beast::error_code& ec) {
    return take_body(body, ec);
}

void GeneralResponseParser::on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code& ec) {
    ec = {};
}

std::size_t GeneralResponseParser::on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code& ec) {
    return take_body(body, ec);
}

void GeneralResponseParser::on_finish_impl(beast::error_code& ec) {
    ec = {};
}

}  // namespace corral::proxy
