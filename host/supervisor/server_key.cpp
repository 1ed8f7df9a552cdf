#include "supervisor/server_key.hpp"

#include <fstream>

namespace corral::supervisor {
namespace {

std::string first_of_list(const std::string& keys) {
    return keys.substr(0, keys.find(','));
}

std::optional<std::string> first_line_of(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) return line;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> configured_server_key(const sdk::ServerConfig& server) {
    const auto& args = server.extra_args;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--api-key" && i + 1 < args.size()) return first_of_list(args[i + 1]);
        if (a.rfind("--api-key=", 0) == 0) return first_of_list(a.substr(10));
        if (a == "--api-key-file" && i + 1 < args.size()) return first_line_of(args[i + 1]);
        if (a.rfind("--api-key-file=", 0) == 0) return first_line_of(a.substr(15));
    }
    if (auto it = server.env.find("LLAMA_API_KEY"); it != server.env.end() && !it->second.empty()) return first_of_list(it->second);
    return std::nullopt;
}

}  // namespace corral::supervisor
