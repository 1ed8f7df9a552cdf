#include "proxy/body_fields.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <cstdint>

namespace corral::proxy {
namespace {

using boost::system::error_code;
using sv = boost::json::string_view;

// Tracks the depth, and at depth 1 (the top-level object's members) the current key.
struct FieldHandler {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    BodyFields fields;
    std::size_t depth = 0;
    std::string key;
    std::string value;

    bool member(std::string_view name) const { return depth == 1 && key == name; }
    // A value at depth 0 that is not an object.
    bool top_level_scalar() {
        if (depth == 0) fields.error = "The request body must be a JSON object.";
        return depth != 0;
    }
    bool not_a_string_model() {
        if (member("model")) {
            fields.error = "`model` must be a string.";
            return false;
        }
        return true;
    }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) {
        if (!not_a_string_model()) return false;
        ++depth;
        return true;
    }
    bool on_object_end(std::size_t, error_code&) {
        --depth;
        return true;
    }
    bool on_array_begin(error_code&) {
        if (!top_level_scalar() || !not_a_string_model()) return false;
        ++depth;
        return true;
    }
    bool on_array_end(std::size_t, error_code&) {
        --depth;
        return true;
    }
    bool on_key_part(sv s, std::size_t n, error_code&) {
        if (depth == 1) {
            if (n == s.size()) key.clear();
            key.append(s.data(), s.size());
        }
        return true;
    }
    bool on_key(sv s, std::size_t n, error_code& ec) { return on_key_part(s, n, ec); }
    bool on_string_part(sv s, std::size_t n, error_code&) {
        if (member("model")) {
            if (n == s.size()) value.clear();
            value.append(s.data(), s.size());
        }
        return true;
    }
    bool on_string(sv s, std::size_t n, error_code& ec) {
        if (!top_level_scalar()) return false;
        on_string_part(s, n, ec);
        if (member("model")) fields.model = value;
        return true;
    }
    bool on_number_part(sv, error_code&) { return true; }
    bool on_int64(std::int64_t, sv, error_code&) { return top_level_scalar() && not_a_string_model(); }
    bool on_uint64(std::uint64_t, sv, error_code&) { return top_level_scalar() && not_a_string_model(); }
    bool on_double(double, sv, error_code&) { return top_level_scalar() && not_a_string_model(); }
    bool on_bool(bool b, error_code&) {
        if (!top_level_scalar() || !not_a_string_model()) return false;
        if (member("stream")) fields.stream = b;
        return true;
    }
    bool on_null(error_code&) { return top_level_scalar() && not_a_string_model(); }
    bool on_comment_part(sv, error_code&) { return true; }
    bool on_comment(sv, error_code&) { return true; }
};

}  // namespace

BodyFields read_body_fields(std::string_view body) {
    boost::json::parse_options options;
    options.max_depth = kMaxBodyDepth;
    boost::json::basic_parser<FieldHandler> parser(options);
    error_code ec;
    const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
    BodyFields fields = std::move(parser.handler().fields);
    if (ec == boost::json::error::too_deep) {
        fields.error = "The request body nests deeper than " + std::to_string(kMaxBodyDepth) + " levels.";
    } else if (ec && fields.error.empty()) {
        fields.error = "Invalid JSON body: " + ec.message();
    }
    if (!ec && body.substr(used).find_first_not_of(" \t\r\n") != std::string_view::npos) {
        fields.error = "Invalid JSON body: extra data after the JSON value";
    }
    if (!fields.error.empty()) fields.model.reset();
    return fields;
}

}  // namespace corral::proxy
