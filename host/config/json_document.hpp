// Parses a config file's JSON: comments and trailing commas allowed, syntax errors located by line
// and column, and duplicate object keys reported (Boost.JSON alone would keep one silently).
#pragma once

#include "config/config_error.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string_view>

namespace corral::config {

// Returns the document, or nullopt with the errors appended. Duplicate keys are errors but the
// document is still returned (with the last value), so the rest of it can be checked too.
std::optional<boost::json::value> parse_config_json(std::string_view text, ConfigErrors& errors);

}  // namespace corral::config
