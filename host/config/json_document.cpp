#include "config/json_document.hpp"

#include <corral/sdk/json.hpp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/stream_parser.hpp>

#include <set>
#include <string>
#include <vector>

namespace corral::config {
namespace {

boost::json::parse_options config_parse_options() {
    boost::json::parse_options opt;
    opt.allow_comments = true;
    opt.allow_trailing_commas = true;
    return opt;
}

void line_column(std::string_view text, std::size_t offset, int& line, int& column) {
    line = 1;
    column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
}

// A basic_parser handler that tracks the JSON path and records keys seen twice in one object.
class DuplicateKeyFinder {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    struct Frame {
        bool is_object;
        std::string path;
        std::set<std::string> keys;
        std::size_t next_index = 0;
    };

    std::vector<Frame> stack;
    std::string pending_key;
    std::string key_buffer;
    std::vector<std::pair<std::string, std::size_t>> duplicates;  // path, offset of the key's end
    std::size_t offset = 0;                                       // set by the driver before each write

    std::string child_path() {
        if (stack.empty()) return "";
        auto& top = stack.back();
        if (top.is_object) return sdk::json_path_join(top.path, pending_key);
        return sdk::json_path_index(top.path, top.next_index++);
    }
    void value_done() {}

    bool on_document_begin(boost::json::error_code&) { return true; }
    bool on_document_end(boost::json::error_code&) { return true; }
    bool on_object_begin(boost::json::error_code&) {
        stack.push_back({true, child_path(), {}, 0});
        return true;
    }
    bool on_object_end(std::size_t, boost::json::error_code&) {
        stack.pop_back();
        return true;
    }
    bool on_array_begin(boost::json::error_code&) {
        stack.push_back({false, child_path(), {}, 0});
        return true;
    }
    bool on_array_end(std::size_t, boost::json::error_code&) {
        stack.pop_back();
        return true;
    }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        key_buffer.append(s.data(), s.size());
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        key_buffer.append(s.data(), s.size());
        pending_key = std::move(key_buffer);
        key_buffer.clear();
        auto& top = stack.back();
        if (!top.keys.insert(pending_key).second) {
            duplicates.emplace_back(sdk::json_path_join(top.path, pending_key), offset);
        }
        return true;
    }
    bool scalar() {
        child_path();
        return true;
    }
    bool on_string_part(boost::json::string_view, std::size_t, boost::json::error_code&) { return true; }
    bool on_string(boost::json::string_view, std::size_t, boost::json::error_code&) { return scalar(); }
    bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_int64(std::int64_t, boost::json::string_view, boost::json::error_code&) { return scalar(); }
    bool on_uint64(std::uint64_t, boost::json::string_view, boost::json::error_code&) { return scalar(); }
    bool on_double(double, boost::json::string_view, boost::json::error_code&) { return scalar(); }
    bool on_bool(bool, boost::json::error_code&) { return scalar(); }
    bool on_null(boost::json::error_code&) { return scalar(); }
    bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }
};

// Feeds the text one line at a time so duplicate keys can be located by line.
void find_duplicate_keys(std::string_view text, ConfigErrors& errors) {
    boost::json::basic_parser<DuplicateKeyFinder> parser(config_parse_options());
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        end = end == std::string_view::npos ? text.size() : end + 1;
        parser.handler().offset = pos;
        boost::json::error_code ec;
        parser.write_some(true, text.data() + pos, end - pos, ec);
        if (ec) return;  // syntax errors are reported by the real parse
        pos = end;
    }
    for (const auto& [path, at] : parser.handler().duplicates) {
        ConfigError e{path, "duplicate key (each key may appear once in an object)", 0, 0};
        line_column(text, at, e.line, e.column);
        errors.push_back(std::move(e));
    }
}

}  // namespace

std::optional<boost::json::value> parse_config_json(std::string_view text, ConfigErrors& errors) {
    boost::json::stream_parser parser({}, config_parse_options());
    boost::json::error_code ec;
    std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
    if (!ec) parser.finish(ec);
    if (ec) {
        ConfigError e{"", "invalid JSON: " + ec.message(), 0, 0};
        line_column(text, consumed, e.line, e.column);
        errors.push_back(std::move(e));
        return std::nullopt;
    }
    find_duplicate_keys(text, errors);
    return parser.release();
}

}  // namespace corral::config
