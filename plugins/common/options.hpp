// Shared handling of plugin options objects.
#pragma once

#include <corral/sdk/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

namespace corral::plugin_common {

// Throws sdk::JsonPathError("<path>.<key>", "unknown <what> option") for the first key not in `known`.
inline void reject_unknown_keys(const boost::json::object& options, std::initializer_list<std::string_view> known, const std::string& path,
                                std::string_view what) {
    for (const auto& kv : options) {
        if (std::find(known.begin(), known.end(), std::string_view(kv.key())) == known.end()) {
            throw sdk::JsonPathError(sdk::json_path_join(path, kv.key()), "unknown " + std::string(what) + " option");
        }
    }
}

}  // namespace corral::plugin_common
