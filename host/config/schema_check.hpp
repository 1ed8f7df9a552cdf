// Checks a plugin's options against the JSON Schema its descriptor carries, so `corral config check`
// names a wrong runner option by its JSON path without running plugin code.
//
// The subset understood: type (name or list), properties, required, additionalProperties (bool or
// schema), items, enum, minimum, maximum, minLength. Other keywords are ignored (accepted).
#pragma once

#include "config/config_error.hpp"

#include <boost/json/value.hpp>

#include <string>

namespace corral::config {

void check_against_schema(const boost::json::value& value, const boost::json::value& schema, const std::string& path, ConfigErrors& errors);

}  // namespace corral::config
