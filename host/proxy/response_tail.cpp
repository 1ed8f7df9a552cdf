#include "proxy/response_tail.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>

namespace corral::proxy {
namespace {

using boost::system::error_code;
using sv = boost::json::string_view;

// Where `key` last occurs in `text`, jumping between occurrences of one of its characters (the
// rarest in text, `anchor`) with memrchr: string_view::rfind compares at every position, a memcmp
// call per byte of a tail read for every response.
std::size_t last_occurrence(std::string_view text, std::string_view key, std::size_t anchor) {
    std::size_t end = text.size();  // the anchor character is looked for before this
    while (end > anchor && text.size() >= key.size()) {
        const void* hit = ::memrchr(text.data() + anchor, key[anchor], end - anchor);
        if (!hit) break;
        const auto at = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
        if (at - anchor + key.size() <= text.size() && text.compare(at - anchor, key.size(), key) == 0) return at - anchor;
        end = at;
    }
    return std::string_view::npos;
}

// Two top-level members of an object that are non-negative integers; everything else is skipped.
// A key is kept in a fixed buffer (no allocation): one longer than it matches no wanted name.
struct CountsHandler {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    explicit CountsHandler(std::array<std::string_view, 2> wanted) : names(wanted) {}  // no parenthesized aggregates in Clang 14

    std::array<std::string_view, 2> names;
    std::array<std::optional<uint64_t>, 2> counts;
    std::size_t depth = 0;
    std::array<char, 32> key{};
    std::size_t key_size = 0;  // past key.size(): a key that matches no name

    // Both found: the read stops there (llama-server writes them first).
    bool both() const { return counts[0] && counts[1]; }

    bool count(uint64_t n) {
        if (depth != 1 || key_size > key.size()) return true;
        const std::string_view k(key.data(), key_size);
        for (std::size_t i = 0; i < names.size(); ++i)
            if (k == names[i] && !counts[i]) counts[i] = n;
        return !both();
    }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) { return ++depth, true; }
    bool on_object_end(std::size_t, error_code&) { return --depth, true; }
    bool on_array_begin(error_code&) { return ++depth, true; }
    bool on_array_end(std::size_t, error_code&) { return --depth, true; }
    bool on_key_part(sv s, std::size_t n, error_code&) {
        if (depth != 1) return true;
        const std::size_t before = n - s.size();  // n: the key's length so far, this part included
        if (n <= key.size()) std::memcpy(key.data() + before, s.data(), s.size());
        key_size = n;
        return true;
    }
    bool on_key(sv s, std::size_t n, error_code& ec) { return on_key_part(s, n, ec); }
    bool on_string_part(sv, std::size_t, error_code&) { return true; }
    bool on_string(sv, std::size_t, error_code&) { return true; }
    bool on_number_part(sv, error_code&) { return true; }
    bool on_int64(std::int64_t v, sv, error_code&) { return v < 0 || count(static_cast<uint64_t>(v)); }
    bool on_uint64(std::uint64_t v, sv, error_code&) { return count(v); }
    bool on_double(double v, sv, error_code&) {
        // A count written as 12.0 or 1e3 is still a count; a fraction or a negative is not.
        return !(v >= 0 && v < 1.8e19 && std::floor(v) == v) || count(static_cast<uint64_t>(v));
    }
    bool on_bool(bool, error_code&) { return true; }
    bool on_null(error_code&) { return true; }
    bool on_comment_part(sv, error_code&) { return true; }
    bool on_comment(sv, error_code&) { return true; }
};

// The counts of `first` and `second` (the first of each) in the last object named `key`; zero for
// one it lacks, and nothing changed when there is no such object or it is not JSON up to where
// both were found. `anchor`: the key's character to look for (see last_occurrence).
void read_counts(std::string_view tail, std::string_view key, std::size_t anchor, std::string_view first, std::string_view second,
                 uint64_t& a, uint64_t& b) {
    const auto at = last_occurrence(tail, key, anchor);
    if (at == std::string_view::npos) return;
    const auto rest = tail.substr(at + key.size());
    const auto open = rest.find_first_not_of(" \t\r\n:");
    if (open == std::string_view::npos || rest[open] != '{') return;
    // The parser stops at the object's end (whatever follows is not its business), or where the
    // handler has both.
    boost::json::basic_parser<CountsHandler> parser(boost::json::parse_options{}, std::array{first, second});
    error_code ec;
    parser.write_some(false, rest.data() + open, rest.size() - open, ec);
    const auto& h = parser.handler();
    if (ec && !h.both()) return;
    a = h.counts[0].value_or(0);
    b = h.counts[1].value_or(0);
}

}  // namespace

void read_usage(std::string_view tail, uint64_t& prompt_tokens, uint64_t& completion_tokens) {
    read_counts(tail, "\"usage\"", 4, "prompt_tokens", "completion_tokens", prompt_tokens, completion_tokens);  // 'g'
}

void read_timings(std::string_view tail, uint64_t& cached, uint64_t& evaluated) {
    read_counts(tail, "\"timings\"", 6, "cache_n", "prompt_n", cached, evaluated);  // 'g'
}

}  // namespace corral::proxy
