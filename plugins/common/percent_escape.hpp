// %XX escapes for text that must fit a narrow alphabet: a remote directory name (ssh runner), the
// fields of a Slurm job comment (slurm runner).
#pragma once

#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace corral::plugin_common {

// Each byte `plain(byte, first)` refuses becomes %XX (upper-case hex); `first` is true for the
// text's first byte.
template <class Plain>
std::string percent_escape(std::string_view text, Plain plain) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (plain(c, i == 0)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

// The text again; nullopt for a '%' not followed by two hex digits.
inline std::optional<std::string> percent_unescape(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(text[i + 2])))
            return std::nullopt;
        out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
        i += 2;
    }
    return out;
}

}  // namespace corral::plugin_common
