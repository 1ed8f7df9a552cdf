// Indented JSON for --json output (Boost.JSON 1.81 serializes on one line only).
#pragma once

#include <boost/json/value.hpp>

#include <ostream>

namespace corral::cli {

void write_pretty_json(std::ostream& os, const boost::json::value& v);

}  // namespace corral::cli
