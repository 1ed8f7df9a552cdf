// corral SDK: strict, path-naming readers for JSON objects (Boost.JSON).
//
// Every JSON document that crosses the ABI is read through FieldReader so a malformed value is
// reported as "<path>.<key>: expected <type>, got <type>" with ProcessError::Configuration.
#pragma once

#include <corral/sdk/error.hpp>

#include <boost/json.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::sdk {

// "object", "string", ... as JSON Schema names them.
inline std::string_view json_kind_name(const boost::json::value& v) noexcept {
    switch (v.kind()) {
        case boost::json::kind::null:
            return "null";
        case boost::json::kind::bool_:
            return "boolean";
        case boost::json::kind::int64:
        case boost::json::kind::uint64:
            return "integer";
        case boost::json::kind::double_:
            return "number";
        case boost::json::kind::string:
            return "string";
        case boost::json::kind::array:
            return "array";
        case boost::json::kind::object:
            return "object";
    }
    return "unknown";
}

// Joins a JSON path: "models" + "qwen" -> "models.qwen"; keys that are not identifiers are quoted.
inline std::string json_path_join(std::string_view base, std::string_view key) {
    bool plain = !key.empty();
    for (char c : key) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        plain = plain && ok;
    }
    std::string out(base);
    if (plain) {
        if (!out.empty()) out += '.';
        out += key;
    } else {
        out += "[\"";
        for (char c : key) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += "\"]";
    }
    return out;
}

inline std::string json_path_index(std::string_view base, std::size_t index) {
    return std::string(base) + "[" + std::to_string(index) + "]";
}

namespace detail {

[[noreturn]] inline void json_type_error(std::string_view path, std::string_view expected, const boost::json::value& got) {
    throw JsonPathError(std::string(path), "expected " + std::string(expected) + ", got " + std::string(json_kind_name(got)));
}

template <class T>
struct JsonConvert;

template <>
struct JsonConvert<std::string> {
    static std::string read(const boost::json::value& v, std::string_view path) {
        if (!v.is_string()) json_type_error(path, "string", v);
        return std::string(v.get_string());
    }
};

template <>
struct JsonConvert<bool> {
    static bool read(const boost::json::value& v, std::string_view path) {
        if (!v.is_bool()) json_type_error(path, "boolean", v);
        return v.get_bool();
    }
};

template <>
struct JsonConvert<double> {
    static double read(const boost::json::value& v, std::string_view path) {
        if (!v.is_number()) json_type_error(path, "number", v);
        return v.to_number<double>();
    }
};

template <class Int>
requires std::is_integral_v<Int> &&(!std::is_same_v<Int, bool>)struct JsonConvert<Int> {
    static Int read(const boost::json::value& v, std::string_view path) {
        boost::json::error_code ec;
        Int out{};
        if (v.is_int64() || v.is_uint64())
            out = v.to_number<Int>(ec);
        else
            json_type_error(path, "integer", v);
        if (ec) {
            throw JsonPathError(std::string(path), "expected an integer from " + std::to_string(std::numeric_limits<Int>::min()) + " to " +
                                                       std::to_string(std::numeric_limits<Int>::max()));
        }
        return out;
    }
};

template <class T>
struct JsonConvert<std::vector<T>> {
    static std::vector<T> read(const boost::json::value& v, std::string_view path) {
        if (!v.is_array()) json_type_error(path, "array", v);
        std::vector<T> out;
        std::size_t i = 0;
        for (const auto& item : v.get_array()) out.push_back(JsonConvert<T>::read(item, json_path_index(path, i++)));
        return out;
    }
};

template <class T>
struct JsonConvert<std::map<std::string, T>> {
    static std::map<std::string, T> read(const boost::json::value& v, std::string_view path) {
        if (!v.is_object()) json_type_error(path, "object", v);
        std::map<std::string, T> out;
        for (const auto& kv : v.get_object()) {
            out.emplace(std::string(kv.key()), JsonConvert<T>::read(kv.value(), json_path_join(path, kv.key())));
        }
        return out;
    }
};

template <>
struct JsonConvert<boost::json::object> {
    static boost::json::object read(const boost::json::value& v, std::string_view path) {
        if (!v.is_object()) json_type_error(path, "object", v);
        return v.get_object();
    }
};

template <>
struct JsonConvert<boost::json::value> {
    static boost::json::value read(const boost::json::value& v, std::string_view) { return v; }
};

}  // namespace detail

// Reads typed members of one JSON object. Absent members and JSON null leave optionals empty.
class FieldReader {
public:
    FieldReader(const boost::json::value& v, std::string path) : path_(std::move(path)) {
        if (!v.is_object()) detail::json_type_error(path_.empty() ? "(document)" : path_, "object", v);
        object_ = &v.get_object();
    }

    template <class T>
    void optional(std::string_view key, std::optional<T>& out) const {
        if (const auto* v = object_->if_contains(key); v && !v->is_null()) {
            out = detail::JsonConvert<T>::read(*v, json_path_join(path_, key));
        }
    }

    // Leaves `out` (its default) untouched when the member is absent or null.
    template <class T>
    void optional_or_keep(std::string_view key, T& out) const {
        if (const auto* v = object_->if_contains(key); v && !v->is_null()) {
            out = detail::JsonConvert<T>::read(*v, json_path_join(path_, key));
        }
    }

    template <class T>
    T required(std::string_view key) const {
        const auto* v = object_->if_contains(key);
        if (!v || v->is_null()) {
            throw JsonPathError(json_path_join(path_, key), "required member is missing");
        }
        return detail::JsonConvert<T>::read(*v, json_path_join(path_, key));
    }

    const boost::json::object& object() const noexcept { return *object_; }
    const std::string& path() const noexcept { return path_; }

private:
    const boost::json::object* object_ = nullptr;
    std::string path_;
};

// Writes a member only when the optional holds a value.
template <class T>
void put_optional(boost::json::object& o, std::string_view key, const std::optional<T>& v) {
    if (v) o[key] = boost::json::value_from(*v);
}

// Parses a JSON document that crossed the ABI; a syntax error is a Configuration error.
inline boost::json::value parse_json(std::string_view text, std::string_view what) {
    boost::json::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) throw Error(ProcessError::Configuration, std::string(what) + ": invalid JSON: " + ec.message());
    return v;
}

}  // namespace corral::sdk
