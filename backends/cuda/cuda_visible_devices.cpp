#include "cuda_visible_devices.hpp"

#include <algorithm>
#include <charconv>

namespace corral::cuda {
namespace {

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// An entry written as an index ("1", "01", "+1"), whatever its value.
std::optional<std::size_t> as_index(const std::string& entry) {
    std::string_view digits = entry;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    std::size_t index = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (digits.empty() || end != digits.data() + digits.size()) return std::nullopt;
    if (ec != std::errc()) return SIZE_MAX;  // too large: out of range
    return index;
}

bool is_uuid(const std::string& entry) {
    return entry.rfind("GPU-", 0) == 0;
}

// The NVML position an entry names, or nullopt (with `why`).
std::optional<std::size_t> resolve_entry(const std::string& entry, const std::vector<std::string>& uuids, std::string& why) {
    if (auto index = as_index(entry)) {
        if (*index < uuids.size()) return *index;
        why = "index " + entry + " is out of range";
        return std::nullopt;
    }
    if (is_uuid(entry)) {
        std::optional<std::size_t> found;
        for (std::size_t i = 0; i < uuids.size(); ++i) {
            if (uuids[i].rfind(entry, 0) != 0) continue;
            if (found) {
                why = "\"" + entry + "\" matches more than one GPU";
                return std::nullopt;
            }
            found = i;
        }
        if (!found) why = "no GPU has UUID \"" + entry + "\"";
        return found;
    }
    why = entry.rfind("MIG-", 0) == 0 ? "MIG instances (\"" + entry + "\") are not probed"
                                      : "\"" + entry + "\" is not an index or a GPU UUID";
    return std::nullopt;
}

}  // namespace

Visibility cuda_visible_order(const std::optional<std::string>& visible, const std::vector<std::string>& uuids) {
    Visibility v;
    if (!visible) {
        for (std::size_t i = 0; i < uuids.size(); ++i) v.order.push_back(i);
        return v;
    }
    if (trim(*visible).empty()) {
        v.note = "CUDA_VISIBLE_DEVICES is empty: CUDA programs see no GPU";
        return v;
    }
    std::string rest = *visible;
    std::string why;
    std::optional<bool> uuid_list;  // the first entry says whether the list holds indices or UUIDs
    while (true) {
        auto comma = rest.find(',');
        auto entry = trim(rest.substr(0, comma));
        std::optional<std::size_t> position;
        if (uuid_list && *uuid_list != is_uuid(entry) && (is_uuid(entry) || as_index(entry))) {
            why = "\"" + entry + "\" is " + (*uuid_list ? "an index in a list of UUIDs" : "a UUID in a list of indices");
        } else {
            position = resolve_entry(entry, uuids, why);
        }
        if (position && std::find(v.order.begin(), v.order.end(), *position) != v.order.end()) {
            // Not the end of the list but no GPU at all: the driver refuses to initialise.
            v.order.clear();
            v.note = "CUDA_VISIBLE_DEVICES=\"" + *visible + "\" names GPU " + std::to_string(*position) +
                     " twice: CUDA programs see no GPU (cuInit fails: invalid device ordinal)";
            return v;
        }
        if (!position) break;
        if (!uuid_list) uuid_list = is_uuid(entry);
        v.order.push_back(*position);
        if (comma == std::string::npos) break;
        rest = rest.substr(comma + 1);
    }
    v.note = "CUDA_VISIBLE_DEVICES=\"" + *visible + "\" shows " + std::to_string(v.order.size()) + " of " + std::to_string(uuids.size()) +
             " GPUs";
    if (!why.empty()) v.note += " (the list ends where " + why + ")";
    return v;
}

}  // namespace corral::cuda
