// Shared handling of plugin options objects.
#pragma once

#include <corral/sdk/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace corral::plugin_common {

// Throws sdk::JsonPathError("<path>.<key>", "unknown <what> option") for the first key not in `known`.
inline void reject_unknown_keys(const boost::json::object& options, const std::vector<std::string_view>& known, const std::string& path,
                                std::string_view what) {
    for (const auto& kv : options) {
        if (std::find(known.begin(), known.end(), std::string_view(kv.key())) == known.end()) {
            throw sdk::JsonPathError(sdk::json_path_join(path, kv.key()), "unknown " + std::string(what) + " option");
        }
    }
}
inline void reject_unknown_keys(const boost::json::object& options, std::initializer_list<std::string_view> known, const std::string& path,
                                std::string_view what) {
    reject_unknown_keys(options, std::vector<std::string_view>(known), path, what);
}

// Adds the "<key>" object's variables to `env` (replacing those it names); a name that is empty or
// holds '=' is a JsonPathError.
inline void read_env(const sdk::FieldReader& r, std::string_view key, std::map<std::string, std::string>& env) {
    std::map<std::string, std::string> more;
    r.optional_or_keep(key, more);
    for (auto& [name, value] : more) {
        if (name.empty() || name.find('=') != std::string::npos)
            throw sdk::JsonPathError(sdk::json_path_join(sdk::json_path_join(r.path(), key), name), "not a variable name");
        env[name] = value;
    }
}

// Appends the "<key>" array of strings to `list`.
inline void append_strings(const sdk::FieldReader& r, std::string_view key, std::vector<std::string>& list) {
    std::vector<std::string> more;
    r.optional_or_keep(key, more);
    list.insert(list.end(), more.begin(), more.end());
}

}  // namespace corral::plugin_common
