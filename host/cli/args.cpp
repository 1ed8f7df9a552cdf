#include "cli/args.hpp"

#include <algorithm>
#include <sstream>

namespace corral::cli {

std::optional<std::string> ParsedArgs::value(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::optional<int> ParsedArgs::integer(const std::string& name) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    try {
        std::size_t used = 0;
        int n = std::stoi(*v, &used);
        if (used == v->size()) return n;
    } catch (const std::exception&) {
    }
    throw UsageError("--" + name + " expects an integer, got \"" + *v + "\"");
}

std::vector<std::string> ParsedArgs::values(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? std::vector<std::string>{} : it->second;
}

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args) {
    ParsedArgs parsed;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string arg = args[i];
        if (arg.size() == 2 && arg[0] == '-' && arg[1] != '-' && arg[1] != 'h') {
            auto it = std::find_if(spec.options.begin(), spec.options.end(), [&](const OptionSpec& o) { return o.short_name == arg[1]; });
            if (it == spec.options.end()) throw UsageError("unknown option " + arg + " for 'corral " + spec.name + "'");
            arg = "--" + it->name;
        }
        if (arg == "--help" || arg == "-h") {
            parsed.help = true;
            return parsed;
        }
        if (arg == "--") {
            parsed.positionals.insert(parsed.positionals.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        }
        if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
            parsed.positionals.push_back(arg);
            continue;
        }
        std::string name = arg.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        auto spec_it = std::find_if(spec.options.begin(), spec.options.end(), [&](const OptionSpec& o) { return o.name == name; });
        if (spec_it == spec.options.end()) throw UsageError("unknown option --" + name + " for 'corral " + spec.name + "'");
        auto& slot = parsed.options[name];
        if (!slot.empty() && !spec_it->repeatable) throw UsageError("--" + name + " given more than once");
        if (spec_it->value_name.empty()) {
            if (inline_value) throw UsageError("--" + name + " takes no value");
            slot.emplace_back();
        } else if (inline_value) {
            slot.push_back(*inline_value);
        } else if (i + 1 < args.size()) {
            slot.push_back(args[++i]);
        } else {
            throw UsageError("--" + name + " needs a value (" + spec_it->value_name + ")");
        }
    }
    if (parsed.positionals.size() < spec.positionals.size()) {
        throw UsageError("missing " + spec.positionals[parsed.positionals.size()] + " for 'corral " + spec.name + "'");
    }
    if (parsed.positionals.size() > spec.positionals.size()) {
        throw UsageError("unexpected argument '" + parsed.positionals[spec.positionals.size()] + "' for 'corral " + spec.name + "'");
    }
    return parsed;
}

std::string help_text(const CommandSpec& spec) {
    std::ostringstream os;
    os << "Usage: corral " << spec.name;
    if (!spec.options.empty()) os << " [OPTIONS]";
    for (const auto& p : spec.positionals) os << ' ' << p;
    os << "\n\n" << spec.summary << "\n";
    os << "\nOptions:\n";
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& o : spec.options) {
        std::string left = (o.short_name ? std::string("-") + o.short_name + ", " : std::string()) + "--" + o.name +
                           (o.value_name.empty() ? "" : " " + o.value_name);
        rows.emplace_back(left, o.help + (o.repeatable ? " (repeatable)" : ""));
    }
    rows.emplace_back("-h, --help", "Show this help and exit");
    std::size_t width = 0;
    for (const auto& [l, r] : rows) width = std::max(width, l.size());
    for (const auto& [l, r] : rows) os << "  " << l << std::string(width - l.size() + 2, ' ') << r << "\n";
    if (!spec.details.empty()) os << "\n" << spec.details << "\n";
    return os.str();
}

}  // namespace corral::cli
