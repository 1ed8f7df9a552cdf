#include "cli/json_output.hpp"

#include <boost/json/serialize.hpp>

#include <string>

namespace corral::cli {
namespace {

void write(std::ostream& os, const boost::json::value& v, int indent) {
    const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
    const std::string close_pad(static_cast<std::size_t>(indent), ' ');
    if (v.is_object() && !v.get_object().empty()) {
        os << "{\n";
        bool first = true;
        for (const auto& kv : v.get_object()) {
            if (!first) os << ",\n";
            first = false;
            os << pad << boost::json::serialize(boost::json::string(kv.key())) << ": ";
            write(os, kv.value(), indent + 2);
        }
        os << "\n" << close_pad << "}";
    } else if (v.is_array() && !v.get_array().empty()) {
        os << "[\n";
        bool first = true;
        for (const auto& item : v.get_array()) {
            if (!first) os << ",\n";
            first = false;
            os << pad;
            write(os, item, indent + 2);
        }
        os << "\n" << close_pad << "]";
    } else {
        os << boost::json::serialize(v);
    }
}

}  // namespace

void write_pretty_json(std::ostream& os, const boost::json::value& v) {
    write(os, v, 0);
    os << "\n";
}

}  // namespace corral::cli
