// corral: the command-line entry point. Dispatches to the subcommands in cmd_*.cpp.
#include "cli/commands.hpp"
#include "logging/logging.hpp"

#include <corral/sdk/version.hpp>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace corral::cli {

const std::vector<Command>& all_commands() {
    static const std::vector<Command> commands = {
        plugins_command(), plugins_inspect_command(), config_check_command(), probe_command(), fit_command(),    pull_command(),
        run_command(),     serve_command(),           ps_command(),           load_command(),  unload_command(), logs_command(),
        version_command()};
    return commands;
}

namespace {

void print_main_help(std::ostream& os) {
    os << "Usage: corral [--log-level LEVEL] COMMAND [OPTIONS]\n\n"
          "corral runs local LLM inference servers behind one endpoint, through runner and probe plugins.\n\n"
          "Commands:\n";
    for (const auto& c : all_commands()) {
        std::string name = c.spec.name;
        os << "  " << name << std::string(name.size() < 18 ? 18 - name.size() : 1, ' ') << c.spec.summary << "\n";
    }
    os << "\nGlobal options:\n"
          "  --log-level LEVEL  trace, debug, info, warn, error or off (default: warn, serve: info or the config's log_level; env "
          "CORRAL_LOG_LEVEL)\n"
          "  --version          Same as 'corral version'\n"
          "  -h, --help         Show this help; 'corral COMMAND --help' shows a command's\n"
          "\nExit status: 0 success, 1 the command failed, 2 bad arguments or invalid config.\n";
}

int run(std::vector<std::string> args) {
    std::string level = "warn";
    bool explicit_level = false;
    if (const char* env = std::getenv("CORRAL_LOG_LEVEL"); env && *env) {
        level = env;
        explicit_level = true;
    }
    while (!args.empty() && args.front().rfind("--", 0) == 0) {
        if (args.front() == "--help") {
            print_main_help(std::cout);
            return kExitOk;
        }
        if (args.front() == "--version") {
            args.front() = "version";
            break;
        }
        if (args.front() == "--log-level" && args.size() >= 2) {
            level = args[1];
            explicit_level = true;
            args.erase(args.begin(), args.begin() + 2);
            continue;
        }
        if (args.front().rfind("--log-level=", 0) == 0) {
            level = args.front().substr(12);
            explicit_level = true;
            args.erase(args.begin());
            continue;
        }
        std::cerr << "corral: unknown global option " << args.front() << "\n";
        return kExitUsage;
    }
    auto parsed_level = logging::parse_level(level);
    if (!parsed_level) {
        std::cerr << "corral: unknown log level '" << level << "' (trace, debug, info, warn, error, critical, off)\n";
        return kExitUsage;
    }
    logging::init(*parsed_level);
    logging::set_level_explicit(explicit_level);
    if (args.empty() || args.front() == "-h") {
        print_main_help(args.empty() ? std::cerr : std::cout);
        return args.empty() ? kExitUsage : kExitOk;
    }
    if (args.front() == "help") {
        if (args.size() == 1) {
            print_main_help(std::cout);
            return kExitOk;
        }
        args.erase(args.begin());
        args.push_back("--help");
    }

    // The longest command name that the arguments start with ("plugins inspect" before "plugins").
    const Command* chosen = nullptr;
    std::size_t consumed = 0;
    for (const auto& c : all_commands()) {
        std::vector<std::string> words;
        for (std::size_t pos = 0, next; pos <= c.spec.name.size(); pos = next + 1) {
            next = c.spec.name.find(' ', pos);
            if (next == std::string::npos) next = c.spec.name.size();
            words.push_back(c.spec.name.substr(pos, next - pos));
        }
        if (words.size() <= args.size() && std::equal(words.begin(), words.end(), args.begin()) && words.size() > consumed) {
            chosen = &c;
            consumed = words.size();
        }
    }
    if (!chosen) {
        std::string group_help;
        for (const auto& c : all_commands()) {
            if (c.spec.name.rfind(args.front() + " ", 0) == 0) group_help += "  corral " + c.spec.name + "  " + c.spec.summary + "\n";
        }
        if (!group_help.empty()) {
            bool asked = args.size() > 1 && (args[1] == "--help" || args[1] == "-h");
            (asked ? std::cout : std::cerr) << "Subcommands of '" << args.front() << "':\n" << group_help;
            return asked ? kExitOk : kExitUsage;
        }
        std::cerr << "corral: unknown command '" << args.front() << "' (see 'corral --help')\n";
        return kExitUsage;
    }
    std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(consumed), args.end());
    try {
        auto parsed = parse_args(chosen->spec, rest);
        if (parsed.help) {
            std::cout << help_text(chosen->spec);
            return kExitOk;
        }
        return chosen->run(parsed);
    } catch (const UsageError& e) {
        std::cerr << "corral: " << e.what() << "\n\n" << help_text(chosen->spec);
        return kExitUsage;
    }
}

}  // namespace
}  // namespace corral::cli

int main(int argc, char** argv) {
    try {
        return corral::cli::run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception& e) {
        std::cerr << "corral: " << e.what() << "\n";
        return corral::cli::kExitFailure;
    }
}
