#include "command_line.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <string_view>

namespace corral::llama {

std::string format_number(double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::vector<std::string> server_arguments(const sdk::ServerConfig& c, uint16_t port, const ArgumentOptions& options) {
    std::vector<std::string> a = {"--model", c.model_path};
    if (options.socket_path.empty())
        a.insert(a.end(), {"--host", c.host, "--port", std::to_string(port)});
    else
        a.insert(a.end(), {"--host", options.socket_path});
    a.insert(a.end(), {"--alias", c.model_name});
    auto opt = [&](const char* flag, const auto& value) {
        if (value) {
            a.push_back(flag);
            if constexpr (std::is_same_v<std::decay_t<decltype(*value)>, std::string>)
                a.push_back(*value);
            else if constexpr (std::is_floating_point_v<std::decay_t<decltype(*value)>>)
                a.push_back(format_number(*value));
            else
                a.push_back(std::to_string(*value));
        }
    };
    opt("--ctx-size", c.ctx_size);
    const bool auto_layers = c.gpu_layers && *c.gpu_layers == "auto";
    if (auto_layers && options.features.fit) {
        a.insert(a.end(), {"--n-gpu-layers", "auto", "--fit", "on"});
        if (!c.fit_target_mib.empty()) {
            std::string targets;
            for (auto t : c.fit_target_mib) targets += (targets.empty() ? "" : ",") + std::to_string(t);
            a.insert(a.end(), {"--fit-target", targets});
        }
    } else if (auto_layers) {
        // A build that cannot fit itself may not take "auto" either: corral's plan, or its default.
        if (c.fit_gpu_layers) a.insert(a.end(), {"--n-gpu-layers", std::to_string(*c.fit_gpu_layers)});
    } else {
        opt("--n-gpu-layers", c.gpu_layers);
    }
    // The host's split over several GPUs, unless the user's own arguments split the model themselves.
    auto given = [&](std::string_view flag) {
        return std::find(c.extra_args.begin(), c.extra_args.end(), flag) != c.extra_args.end() ||
               std::find(options.runner_extra_args.begin(), options.runner_extra_args.end(), flag) != options.runner_extra_args.end();
    };
    if (c.tensor_split.size() > 1 && !given("--tensor-split") && !given("-ts")) {
        std::string split;
        for (auto share : c.tensor_split) split += (split.empty() ? "" : ",") + format_number(share);
        a.insert(a.end(), {"--tensor-split", split});
    }
    opt("--threads", c.threads);
    opt("--batch-size", c.batch_size);
    opt("--parallel", c.parallel);
    opt("--flash-attn", c.flash_attn);
    if (c.mlock && *c.mlock) a.push_back("--mlock");
    if (c.mmap && !*c.mmap) a.push_back("--no-mmap");
    opt("--cache-type-k", c.cache_type_k);
    opt("--cache-type-v", c.cache_type_v);
    if (c.jinja) a.push_back(*c.jinja ? "--jinja" : "--no-jinja");
    opt("--reasoning-format", c.reasoning_format);
    opt("--reasoning-budget", c.reasoning_budget);
    opt("--seed", c.seed);
    opt("--temp", c.sampling.temperature);
    opt("--top-k", c.sampling.top_k);
    opt("--top-p", c.sampling.top_p);
    opt("--min-p", c.sampling.min_p);
    opt("--repeat-penalty", c.sampling.repeat_penalty);
    // The configured verbosity, else 4 while the host measures memory from the server's log. (Not an
    // optional copied from another: GCC 12 at -Os warns that one may be read uninitialized.)
    if ((options.log_verbosity || c.measure_memory) && options.features.log_verbosity) {
        a.insert(a.end(), {"--log-verbosity", std::to_string(options.log_verbosity.value_or(4))});
    }
    if (c.slot_save_path && options.features.slot_save_path) {
        auto dir = *c.slot_save_path;
        if (!dir.empty() && dir.back() != '/') dir += '/';  // llama-server appends the file name as is
        a.insert(a.end(), {"--slot-save-path", dir});
    }
    a.insert(a.end(), options.runner_extra_args.begin(), options.runner_extra_args.end());
    a.insert(a.end(), c.extra_args.begin(), c.extra_args.end());
    return a;
}

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

std::optional<std::string> server_key(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--api-key" && i + 1 < args.size()) return first_of_list(args[i + 1]);
        if (a.rfind("--api-key=", 0) == 0) return first_of_list(a.substr(10));
        if (a == "--api-key-file" && i + 1 < args.size()) return first_line_of(args[i + 1]);
        if (a.rfind("--api-key-file=", 0) == 0) return first_line_of(a.substr(15));
    }
    if (auto it = env.find("LLAMA_API_KEY"); it != env.end() && !it->second.empty()) return first_of_list(it->second);
    return std::nullopt;
}

bool announces_listening(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    constexpr int kInfo = 3;  // the level of the "listening on" line
    auto level = [](std::string_view text) {
        int v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        return ec == std::errc() && end == text.data() + text.size() ? v : -1;
    };
    int verbosity = kInfo;
    if (auto it = env.find("LLAMA_ARG_LOG_VERBOSITY"); it != env.end()) verbosity = level(it->second);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--log-disable") return false;
        if (a == "-v" || a == "--verbose" || a == "--log-verbose") {
            verbosity = std::numeric_limits<int>::max();
        } else if (a == "-lv" || a == "--verbosity" || a == "--log-verbosity") {
            verbosity = i + 1 < args.size() ? level(args[++i]) : -1;
        }
    }
    return verbosity >= kInfo;
}

}  // namespace corral::llama
