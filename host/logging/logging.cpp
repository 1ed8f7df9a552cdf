#include "logging/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace corral::logging {
namespace {

std::mutex g_mutex;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;
bool g_explicit = false;
constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v";

spdlog::sink_ptr sink_locked() {
    if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    return g_sink;
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_level(std::string_view name) {
    static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
        {"off", spdlog::level::off},
    };
    for (const auto& [n, level] : kLevels) {
        if (n == name) return level;
    }
    return std::nullopt;
}

void init(spdlog::level::level_enum level) {
    std::lock_guard lock(g_mutex);
    g_level = level;
    sink_locked();
    spdlog::apply_all([level](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
}

void use_sink(spdlog::sink_ptr sink) {
    std::lock_guard lock(g_mutex);
    g_sink = sink;
    g_sink->set_pattern(kPattern);
    spdlog::apply_all([&sink](const std::shared_ptr<spdlog::logger>& l) { l->sinks() = {sink}; });
}

void set_level_explicit(bool explicit_level) {
    std::lock_guard lock(g_mutex);
    g_explicit = explicit_level;
}

bool level_is_explicit() {
    std::lock_guard lock(g_mutex);
    return g_explicit;
}

std::shared_ptr<spdlog::logger> get(const std::string& name) {
    std::lock_guard lock(g_mutex);
    if (auto existing = spdlog::get(name)) return existing;
    auto logger = std::make_shared<spdlog::logger>(name, sink_locked());
    logger->set_level(g_level);
    logger->set_pattern(kPattern);
    spdlog::register_logger(logger);
    return logger;
}

}  // namespace corral::logging
