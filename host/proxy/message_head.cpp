#include "proxy/message_head.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>
#include <charconv>

namespace corral::proxy {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// The header names a Connection header lists are hop-by-hop too.
template <class Fields>
std::vector<std::string_view> connection_options(const Fields& fields) {
    std::vector<std::string_view> names;
    for (auto it = fields.find(http::field::connection); it != fields.end() && it->name() == http::field::connection; ++it) {
        for (const auto& token : http::token_list(it->value())) names.emplace_back(token.data(), token.size());
    }
    return names;
}

template <class Names>
bool listed(const Names& names, std::string_view name) {
    for (const auto& n : names) {
        if (beast::iequals(n, name)) return true;
    }
    return false;
}

void append_number(std::string& out, std::size_t n) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out.append(digits, end);
}

}  // namespace

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

bool hop_by_hop(std::string_view name) {
    // By length first: most names are ruled out without a comparison.
    const auto is = [name](std::string_view hop) { return is_name(name, hop); };
    switch (name.size()) {
        case 2:
            return is("te");
        case 4:
            return is("host");
        case 6:
            return is("expect");
        case 7:
            return is("trailer") || is("upgrade");
        case 9:
            return is("x-api-key");
        case 10:
            return is("connection") || is("keep-alive");
        case 13:
            return is("authorization");
        case 14:
            return is("content-length");
        case 16:
            return is("proxy-connection");
        case 17:
            return is("transfer-encoding");
        case 18:
            return is("proxy-authenticate");
        case 19:
            return is("proxy-authorization");
        default:
            return false;
    }
}

std::string upstream_request_head(const http::request_header<>& request, std::size_t body_size, std::string_view target,
                                  std::string_view host, std::string_view key) {
    std::string out;
    out.reserve(256 + target.size());
    const auto method = request.method_string();
    out.append(method.data(), method.size()).append(" ").append(target).append(" HTTP/1.1\r\n");
    const auto connection_listed = connection_options(request);
    for (const auto& f : request) {
        const auto name = f.name_string();
        const std::string_view n(name.data(), name.size());
        if (hop_by_hop(n) || listed(connection_listed, n)) continue;
        const auto value = f.value();
        append_field(out, n, std::string_view(value.data(), value.size()));
    }
    append_field(out, "Host", host);
    if (!key.empty()) out.append("Authorization: Bearer ").append(key).append("\r\n");
    const auto verb = request.method();
    if (body_size > 0 || verb == http::verb::post || verb == http::verb::put || verb == http::verb::patch) {
        out.append("Content-Length: ");
        append_number(out, body_size);
        out.append("\r\n");
    }
    out.append("\r\n");
    return out;
}

void append_status_line(std::string& out, int status, std::string_view server_reason) {
    out.append("HTTP/1.1 ");
    append_number(out, static_cast<std::size_t>(status));
    const auto known = http::int_to_status(static_cast<unsigned>(status));
    const auto standard = http::obsolete_reason(known);
    const auto reason = known == http::status::unknown ? server_reason : std::string_view(standard.data(), standard.size());
    out.append(" ").append(reason).append("\r\n");
}

bool relayed_to_client(std::string_view name, const HeaderList& corral_sets) {
    if (hop_by_hop(name)) return false;
    // CORS is corral's policy (cors_origins), not each server's.
    if (name.size() > 15 && is_name(name.substr(0, 15), "access-control-")) return false;
    for (const auto& set : corral_sets) {
        if (beast::iequals(set.first, name)) return false;
    }
    return true;
}

void drop_fields(std::string& head, std::size_t from, const std::vector<std::string>& names) {
    std::size_t kept = from;
    for (std::size_t line = from; line < head.size();) {
        const std::size_t end = head.find("\r\n", line);
        const std::size_t next = end == std::string::npos ? head.size() : end + 2;
        const std::string_view text(head.data() + line, next - line);
        const std::string_view name = text.substr(0, text.find(':'));
        if (!listed(names, name)) {
            std::copy(text.begin(), text.end(), head.begin() + static_cast<std::ptrdiff_t>(kept));  // leftwards: overlap is fine
            kept += text.size();
        }
        line = next;
    }
    head.resize(kept);
}

void end_client_response_head(std::string& out, const HeaderList& corral_sets, bool keep_alive, BodyFraming framing,
                              std::size_t content_length) {
    for (const auto& [name, value] : corral_sets) append_field(out, name, value);
    if (!keep_alive) out.append("Connection: close\r\n");
    if (framing == BodyFraming::ContentLength) {
        out.append("Content-Length: ");
        append_number(out, content_length);
        out.append("\r\n");
    } else if (framing == BodyFraming::Chunked) {
        out.append("Transfer-Encoding: chunked\r\n");
    }
    out.append("\r\n");
}

std::string_view chunk_size_line(std::size_t size, char (&out)[20]) {
    auto end = std::to_chars(out, out + sizeof out - 2, size, 16).ptr;
    *end++ = '\r';
    *end++ = '\n';
    return {out, static_cast<std::size_t>(end - out)};
}

}  // namespace corral::proxy
