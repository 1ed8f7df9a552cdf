// Human-friendly durations ("10m", "1h30m", "500ms") and sizes ("4GiB", "512MB") in config files.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corral::config {

// Accepts one or more <number><unit> groups, units ms, s, m, h, d ("1h30m"); a bare JSON number
// in the config is seconds. Returns nullopt for anything else ("10x", "", "-5s").
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// A duration of `total_ms` milliseconds, rounded; nullopt when negative, not finite or beyond what
// corral's clocks hold (half of int64's milliseconds: deadlines are added to "now").
std::optional<std::chrono::milliseconds> duration_of_ms(double total_ms);

// Accepts <number>[unit] with units B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB
// (powers of 1024), case-insensitive; a bare number is bytes. nullopt for anything else.
std::optional<uint64_t> parse_size(std::string_view text);

// "1.5 GiB", "512 MiB", "100 B": for messages.
std::string format_size(uint64_t bytes);

}  // namespace corral::config
