#include "supervisor/server_key.hpp"

#include "command_line.hpp"

#include <map>
#include <vector>

namespace corral::supervisor {

std::optional<std::string> configured_server_key(const sdk::ServerConfig& server) {
    // The model's own settings, and the runner options it overrides per model (`extra_args`, `env`).
    std::vector<std::string> args = server.extra_args;
    std::map<std::string, std::string> env;
    if (const auto* extra = server.runner_options.if_contains("extra_args"); extra && extra->is_array()) {
        for (const auto& a : extra->get_array()) {
            if (a.is_string()) args.emplace_back(a.get_string());
        }
    }
    if (const auto* options_env = server.runner_options.if_contains("env"); options_env && options_env->is_object()) {
        if (const auto* k = options_env->get_object().if_contains("LLAMA_API_KEY"); k && k->is_string() && !k->get_string().empty())
            env["LLAMA_API_KEY"] = std::string(k->get_string());
    }
    if (auto it = server.env.find("LLAMA_API_KEY"); it != server.env.end() && !it->second.empty()) env["LLAMA_API_KEY"] = it->second;
    return llama::server_key(args, env);
}

}  // namespace corral::supervisor
