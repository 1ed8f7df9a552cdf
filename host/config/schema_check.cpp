#include "config/schema_check.hpp"

#include <corral/sdk/json.hpp>

#include <boost/json.hpp>

namespace corral::config {
namespace {

bool matches_type(const boost::json::value& v, std::string_view type) {
    if (type == "integer")
        return v.is_int64() || v.is_uint64() ||
               (v.is_double() && v.get_double() == static_cast<double>(static_cast<int64_t>(v.get_double())));
    if (type == "number") return v.is_number();
    if (type == "string") return v.is_string();
    if (type == "boolean") return v.is_bool();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "null") return v.is_null();
    return true;  // unknown type names are not ours to refuse
}

std::string join_keys(const boost::json::object& properties) {
    std::string out;
    for (const auto& kv : properties) {
        if (!out.empty()) out += ", ";
        out += kv.key();
    }
    return out;
}

}  // namespace

void check_against_schema(const boost::json::value& value, const boost::json::value& schema, const std::string& path,
                          ConfigErrors& errors) {
    if (!schema.is_object()) return;
    const auto& s = schema.get_object();

    if (const auto* type = s.if_contains("type")) {
        bool ok = false;
        std::string expected;
        if (type->is_string()) {
            ok = matches_type(value, type->get_string());
            expected = type->get_string();
        } else if (type->is_array()) {
            for (const auto& t : type->get_array()) {
                if (!t.is_string()) continue;
                ok = ok || matches_type(value, t.get_string());
                expected += expected.empty() ? "" : " or ";
                expected += t.get_string();
            }
        } else {
            ok = true;
        }
        if (!ok) {
            errors.push_back({path, "expected " + expected + ", got " + std::string(sdk::json_kind_name(value))});
            return;
        }
    }

    if (const auto* choices = s.if_contains("enum"); choices && choices->is_array()) {
        bool found = false;
        std::string listed;
        for (const auto& c : choices->get_array()) {
            found = found || c == value;
            listed += listed.empty() ? "" : ", ";
            listed += boost::json::serialize(c);
        }
        if (!found) errors.push_back({path, "expected one of " + listed + ", got " + boost::json::serialize(value)});
    }

    if (value.is_number()) {
        double v = value.to_number<double>();
        if (const auto* min = s.if_contains("minimum"); min && min->is_number() && v < min->to_number<double>()) {
            errors.push_back({path, "must be at least " + boost::json::serialize(*min)});
        }
        if (const auto* max = s.if_contains("maximum"); max && max->is_number() && v > max->to_number<double>()) {
            errors.push_back({path, "must be at most " + boost::json::serialize(*max)});
        }
    }

    if (value.is_string()) {
        if (const auto* min = s.if_contains("minLength"); min && min->is_number() && value.get_string().size() < min->to_number<double>()) {
            errors.push_back({path, "must have at least " + boost::json::serialize(*min) + " characters"});
        }
    }

    if (value.is_object()) {
        const auto& obj = value.get_object();
        static const boost::json::object kNoProperties;
        const auto* props_value = s.if_contains("properties");
        const auto& properties = props_value && props_value->is_object() ? props_value->get_object() : kNoProperties;
        if (const auto* required = s.if_contains("required"); required && required->is_array()) {
            for (const auto& r : required->get_array()) {
                if (r.is_string() && !obj.contains(r.get_string())) {
                    errors.push_back({sdk::json_path_join(path, r.get_string()), "required option is missing"});
                }
            }
        }
        const auto* additional = s.if_contains("additionalProperties");
        for (const auto& kv : obj) {
            auto child = sdk::json_path_join(path, kv.key());
            if (const auto* prop = properties.if_contains(kv.key())) {
                check_against_schema(kv.value(), *prop, child, errors);
            } else if (additional && additional->is_bool() && !additional->get_bool()) {
                errors.push_back({child, "unknown option (expected one of: " + join_keys(properties) + ")"});
            } else if (additional && additional->is_object()) {
                check_against_schema(kv.value(), *additional, child, errors);
            }
        }
    }

    if (value.is_array()) {
        if (const auto* items = s.if_contains("items")) {
            std::size_t i = 0;
            for (const auto& item : value.get_array()) check_against_schema(item, *items, sdk::json_path_index(path, i++), errors);
        }
    }
}

}  // namespace corral::config
