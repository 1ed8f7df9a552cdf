#include "shell_quote.hpp"

namespace corral::plugin_common {

std::string shell_quote(std::string_view word) {
    auto safe = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '/' ||
               c == ':' || c == ',' || c == '+' || c == '@' || c == '%';
    };
    bool bare = !word.empty();
    for (char c : word) bare = bare && safe(c);
    if (bare) return std::string(word);
    std::string out = "'";
    for (char c : word) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

std::string shell_join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty()) out += ' ';
        out += shell_quote(w);
    }
    return out;
}

}  // namespace corral::plugin_common
