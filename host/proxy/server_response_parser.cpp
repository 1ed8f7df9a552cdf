#include "proxy/server_response_parser.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::size_t kHeaderLimit = 64 * 1024;

// A SyncReadStream for Beast's synchronous parse functions that never touches the socket: they
// parse what the connection's buffer holds and end with would_block when they need more (or with
// how the last read ended: eof, a reset); the relay reads the next bytes.
struct BufferedReads {
    boost::system::error_code ended;
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers&, boost::system::error_code& ec) {
        ec = ended ? ended : asio::error::would_block;
        return 0;
    }
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& buffers) {
        boost::system::error_code ec;
        read_some(buffers, ec);
        throw boost::system::system_error(ec);
    }
};

// RFC 9110 5.6.2's tchar: what a field name is made of (Beast's table says the same).
constexpr std::array<bool, 256> kTokenChar = [] {
    std::array<bool, 256> table{};
    for (int c = '0'; c <= '9'; ++c) table[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
    for (const char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
    return table;
}();

bool token_char(char c) {
    return kTokenChar[static_cast<unsigned char>(c)];
}
// What the fast path takes in a reason phrase or a field value: printable ASCII, SP and HTAB.
// Beast takes obs-text (bytes from 0x80) as well: a response with one goes to Beast.
bool plain_char(char c) {
    return (c >= 0x20 && c < 0x7f) || c == '\t';
}
// Whether the 8 bytes at `p` are all printable ASCII or SP, a word at a time (the classic
// has-less-than and has-zero-byte tests); a word with HTAB, a line's CR or anything else is
// left to plain_char's byte loop.
bool eight_plain(const char* p) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
    std::uint64_t x = 0;
    std::memcpy(&x, p, sizeof x);
    const std::uint64_t below_space = (x - kOnes * 0x20) & ~x & kHighs;
    const std::uint64_t del = x ^ (kOnes * 0x7f);
    const std::uint64_t is_del = (del - kOnes) & ~del & kHighs;
    return ((x & kHighs) | below_space | is_del) == 0;
}
// Where the run of plain_char bytes from `p` ends.
const char* skip_plain(const char* p, const char* end) {
    while (end - p >= 8 && eight_plain(p)) p += 8;
    while (p < end && plain_char(*p)) ++p;
    return p;
}
bool whitespace(char c) {
    return c == ' ' || c == '\t';
}
bool digit(char c) {
    return c >= '0' && c <= '9';
}

// A Content-Length the fast path reads itself: digits only, few enough that they cannot overflow
// (Beast reads lists such as "5, 5" too: those go to it).
std::optional<std::uint64_t> plain_length(std::string_view value) {
    if (value.empty() || value.size() > 18) return std::nullopt;
    std::uint64_t n = 0;
    for (const char c : value) {
        if (!digit(c)) return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

}  // namespace

ServerResponseParser::ServerResponseParser(const HeaderList& corral_sets, bool head_request)
    : corral_sets_(corral_sets), head_request_(head_request) {}

GeneralResponseParser& ServerResponseParser::use_general() {
    auto& parser = general_.emplace(corral_sets_);
    parser.body_limit(boost::none);
    parser.header_limit(kHeaderLimit);
    if (head_request_) parser.skip(true);  // a response to HEAD has no body, whatever its Content-Length says
    return parser;
}

ServerResponseParser::Fast ServerResponseParser::parse_fast(std::string_view in, std::size_t& used) {
    // Out of bytes before the header's end: more may come, unless the header is already past
    // the limit (Beast's header_limit error is the answer then).
    const auto more = [&in] { return in.size() < kHeaderLimit ? Fast::NeedMore : Fast::Declined; };
    if (head_request_) return Fast::Declined;
    const char* const begin = in.data();
    const char* const end = begin + in.size();
    const char* p = begin;

    // status-line = HTTP-version SP 3DIGIT SP reason-phrase CRLF: 1.0 or 1.1, a final status
    // with a body (1xx, 204 and 304 have none; Beast decides those).
    constexpr std::string_view kVersion = "HTTP/1.";
    if (in.substr(0, kVersion.size()) != kVersion.substr(0, std::min(in.size(), kVersion.size()))) return Fast::Declined;
    if (in.size() < 13) return more();
    if ((p[7] != '0' && p[7] != '1') || p[8] != ' ') return Fast::Declined;
    if (!digit(p[9]) || !digit(p[10]) || !digit(p[11]) || p[12] != ' ') return Fast::Declined;
    const bool http11 = p[7] == '1';
    const int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 200 || status > 599 || status == 204 || status == 304) return Fast::Declined;
    p += 13;
    const char* const reason = p;
    p = skip_plain(p, end);
    if (end - p < 2) return more();
    if (p[0] != '\r' || p[1] != '\n') return Fast::Declined;
    head_.clear();
    head_.reserve(384);
    append_status_line(head_, status, std::string_view(reason, static_cast<std::size_t>(p - reason)));
    p += 2;

    // field-line = field-name ":" OWS field-value OWS CRLF, until the empty line. Beast's framing
    // fields other than Content-Length (Transfer-Encoding, Connection, Upgrade) go to Beast, as
    // does obs-fold (a line that starts with SP or HTAB).
    bool type_seen = false;
    bool event_stream = false;
    std::optional<std::uint64_t> length;
    for (;;) {
        if (end - p < 2) return more();
        if (p[0] == '\r') {
            if (p[1] != '\n') return Fast::Declined;
            p += 2;
            break;
        }
        const char* const name_begin = p;
        while (p < end && token_char(*p)) ++p;
        if (p == end) return more();
        if (*p != ':' || p == name_begin) return Fast::Declined;
        const std::string_view name(name_begin, static_cast<std::size_t>(p - name_begin));
        ++p;
        while (p < end && whitespace(*p)) ++p;
        const char* const value_begin = p;
        p = skip_plain(p, end);
        if (end - p < 3) return more();  // CRLF, and the next line's first byte (obs-fold or not)
        if (p[0] != '\r' || p[1] != '\n' || whitespace(p[2])) return Fast::Declined;
        const char* value_end = p;
        while (value_end > value_begin && whitespace(value_end[-1])) --value_end;
        const std::string_view value(value_begin, static_cast<std::size_t>(value_end - value_begin));
        p += 2;

        if (is_name(name, "content-length")) {
            if (length) return Fast::Declined;  // a second one: Beast compares them
            length = plain_length(value);
            if (!length) return Fast::Declined;
        } else if (is_name(name, "transfer-encoding") || is_name(name, "connection") || is_name(name, "proxy-connection") ||
                   is_name(name, "upgrade")) {
            return Fast::Declined;
        } else if (!type_seen && is_name(name, "content-type")) {
            type_seen = true;
            event_stream = is_event_stream(value);
        }
        if (relayed_to_client(name, corral_sets_)) append_field(head_, name, value);
    }
    if (!length) return Fast::Declined;  // a body that lasts until the connection ends: Beast's
    if (static_cast<std::size_t>(p - begin) > kHeaderLimit) return Fast::Declined;

    status_ = status;
    event_stream_ = event_stream;
    keep_alive_ = http11;  // no Connection field: 1.1 keeps the connection, 1.0 does not
    content_length_ = *length;
    remaining_ = *length;
    used = static_cast<std::size_t>(p - begin);
    return Fast::Accepted;
}

void ServerResponseParser::read_header(beast::flat_buffer& buffer, const boost::system::error_code& ended, boost::system::error_code& ec) {
    if (!general_) {
        std::size_t used = 0;
        const auto data = buffer.data();
        const auto fast = parse_fast(std::string_view(static_cast<const char*>(data.data()), data.size()), used);
        if (fast == Fast::Accepted) {
            buffer.consume(used);
            header_done_ = true;
            ec = {};
            return;
        }
        // Each wait for more bytes means a scan from the first byte again: a header that has not
        // come whole after a few reads (a server dribbling it) is Beast's, which resumes where it stopped.
        if (fast == Fast::NeedMore && !ended && ++header_waits_ < kFastHeaderWaits) {
            ec = asio::error::would_block;
            return;
        }
        // Declined, the connection ended before the header did, or the header is slow: Beast reads
        // it from its first byte (nothing was consumed) and says what went wrong, if anything.
        use_general();
    }
    BufferedReads source{ended};
    http::read_header(source, buffer, *general_, ec);
}

void ServerResponseParser::read_body(beast::flat_buffer& buffer, const boost::system::error_code& ended, boost::system::error_code& ec) {
    if (general_) {
        if (deferred_) {
            ec = std::exchange(deferred_, {});
            return;
        }
        general_->eager(true);  // on past each chunk while the buffer holds more (Beast stops after one)
        BufferedReads source{ended};
        http::read_some(source, buffer, *general_, ec);
        if (ec && ec != http::error::need_buffer && general_->body_filled() > 0) {
            if (ec != asio::error::would_block) deferred_ = ec;
            ec = {};
        }
        return;
    }
    ec = {};
    if (remaining_ == 0) return;
    if (filled_ == body_.size()) {
        ec = http::error::need_buffer;
        return;
    }
    if (buffer.size() == 0) {
        // As Beast: a connection that ends before the body does is a partial message.
        ec = !ended                      ? boost::system::error_code(asio::error::would_block)
             : ended == asio::error::eof ? boost::system::error_code(http::error::partial_message)
                                         : ended;
        return;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>({buffer.size(), remaining_, body_.size() - filled_}));
    std::memcpy(body_.data() + filled_, buffer.data().data(), n);
    buffer.consume(n);
    filled_ += n;
    remaining_ -= n;
}

void ServerResponseParser::body_into(std::span<char> buffer) {
    if (general_) {
        general_->body_into(buffer);
        return;
    }
    body_ = buffer;
    filled_ = 0;
}

std::size_t ServerResponseParser::body_filled() const {
    return general_ ? general_->body_filled() : filled_;
}

int ServerResponseParser::status() const {
    return general_ ? general_->status() : status_;
}

bool ServerResponseParser::event_stream() const {
    return general_ ? general_->event_stream() : event_stream_;
}

std::string& ServerResponseParser::client_head() {
    return general_ ? general_->client_head() : head_;
}

bool ServerResponseParser::chunked() const {
    return general_ ? general_->chunked() : false;
}

std::optional<std::uint64_t> ServerResponseParser::content_length() const {
    if (!general_) return content_length_;
    const auto length = general_->content_length();
    return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
}

bool ServerResponseParser::keep_alive() const {
    return general_ ? general_->keep_alive() : keep_alive_;
}

bool ServerResponseParser::is_done() const {
    return general_ ? general_->is_done() : header_done_ && remaining_ == 0;
}

}  // namespace corral::proxy
