// The header text corral writes when it relays: the request a model server gets and the response
// header its client gets, written straight into one string each (no message object, no copies of
// the body) and sent with the body in one gather write. Pure: no I/O (unit-tested on their own).
//
// What is relayed and what is not (README, "What corral relays"): hop-by-hop headers (RFC 9110
// 7.6.1) and the ones a Connection header lists never cross; Host, framing, the client's
// credentials and Expect are corral's own; the server's CORS headers give way to corral's policy.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::proxy {

// The request a model server gets for `request`: its method, `target`, the client's end-to-end
// headers, Host: `host`, `Authorization: Bearer key` when a key is given, and Content-Length when
// there is a body (or the method carries one). HTTP/1.1, kept alive. Ends with the blank line;
// the body follows as is.
std::string upstream_request_head(const boost::beast::http::request_header<>& request, std::size_t body_size, std::string_view target,
                                  std::string_view host, std::string_view key);

// How a relayed response's body is framed to the client.
enum class BodyFraming { None, ContentLength, Chunked };

// Header fields as name and value (the ones corral adds to a response itself).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The response header a client gets for a server's response is written in steps, as the
// server's header is parsed (ServerResponseParser): the status line (the status's standard
// reason phrase; the server's own for a status without one), then each of the server's fields
// that crosses, then end_client_response_head.
void append_status_line(std::string& out, int status, std::string_view server_reason);
// Whether a field of the server's response crosses to the client: its end-to-end fields do, less
// Access-Control-* (CORS is corral's policy) and those `corral_sets` replaces (names compared
// without case). The ones its Connection field lists go afterwards (drop_fields).
bool relayed_to_client(std::string_view name, const HeaderList& corral_sets);
// "Name: value\r\n".
void append_field(std::string& out, std::string_view name, std::string_view value);
// Removes the "Name: value\r\n" lines from `from` on whose name is one of `names` (any case).
void drop_fields(std::string& head, std::size_t from, const std::vector<std::string>& names);
// Ends the client's response head: `corral_sets`, `Connection: close` when not kept alive, the
// framing, and the blank line.
void end_client_response_head(std::string& head, const HeaderList& corral_sets, bool keep_alive, BodyFraming framing,
                              std::size_t content_length);

// Whether a header (its name, any case) never crosses the relay (hop-by-hop, or one corral sets itself).
bool hop_by_hop(std::string_view name);

// Whether header name `name` is `lower` (written in lowercase) in any case: iequals for the
// fixed names the relay looks for, with one case to fold instead of two.
inline bool is_name(std::string_view name, std::string_view lower) {
    if (name.size() != lower.size()) return false;
    for (std::size_t i = 0; i < lower.size(); ++i) {
        const char c = name[i];
        if (c != lower[i] && (c < 'A' || c > 'Z' || static_cast<char>(c + ('a' - 'A')) != lower[i])) return false;
    }
    return true;
}

// Whether a Content-Type value says the body is an event stream (text/event-stream, any case,
// parameters allowed): the relay's one test, whichever parser read the response.
inline bool is_event_stream(std::string_view content_type) {
    return content_type.size() >= 17 && is_name(content_type.substr(0, 17), "text/event-stream");
}

// "1a\r\n": the line before a chunk of `size` bytes; written into `out`, which it returns a view of.
std::string_view chunk_size_line(std::size_t size, char (&out)[20]);

}  // namespace corral::proxy
