// Host logging: spdlog on stderr (stdout stays clean for --json output).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace corral::logging {

// Parses "trace", "debug", "info", "warn", "error", "critical" or "off".
std::optional<spdlog::level::level_enum> parse_level(std::string_view name);

// Installs the stderr sink and sets the level of every corral logger. Call once, early.
void init(spdlog::level::level_enum level);

// Sends every corral logger's lines to `sink` instead of stderr (test harnesses hold them). Call it
// before any other thread logs.
void use_sink(spdlog::sink_ptr sink);

// Whether the user chose the level (--log-level or CORRAL_LOG_LEVEL); commands with their own
// default (serve logs at info, or the config's log_level) apply it only when not.
void set_level_explicit(bool explicit_level);
bool level_is_explicit();

// The logger of one host component ("host", "config", ...) or "plugin.<name>"; created on first use,
// sharing the sink and level that init() set.
std::shared_ptr<spdlog::logger> get(const std::string& name);

}  // namespace corral::logging
