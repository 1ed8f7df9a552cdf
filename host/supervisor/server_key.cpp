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

// The key given by arguments, as llama-server reads them.
std::optional<std::string> key_in_arguments(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--api-key" && i + 1 < args.size()) return first_of_list(args[i + 1]);
        if (a.rfind("--api-key=", 0) == 0) return first_of_list(a.substr(10));
        if (a == "--api-key-file" && i + 1 < args.size()) return first_line_of(args[i + 1]);
        if (a.rfind("--api-key-file=", 0) == 0) return first_line_of(a.substr(15));
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> configured_server_key(const sdk::ServerConfig& server) {
    // The model's own settings, and the runner options it overrides per model (`extra_args`, `env`).
    std::vector<std::string> args = server.extra_args;
    std::optional<std::string> env_key;
    if (const auto* extra = server.runner_options.if_contains("extra_args"); extra && extra->is_array()) {
        for (const auto& a : extra->get_array()) {
            if (a.is_string()) args.emplace_back(a.get_string());
        }
    }
    if (const auto* env = server.runner_options.if_contains("env"); env && env->is_object()) {
        if (const auto* k = env->get_object().if_contains("LLAMA_API_KEY"); k && k->is_string() && !k->get_string().empty())
            env_key = std::string(k->get_string());
    }
    if (auto it = server.env.find("LLAMA_API_KEY"); it != server.env.end() && !it->second.empty()) env_key = it->second;
    if (auto key = key_in_arguments(args)) return key;
    if (env_key) return first_of_list(*env_key);
    return std::nullopt;
}

}  // namespace corral::supervisor
