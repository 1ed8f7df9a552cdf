// A small command-line parser: each subcommand declares its options and positionals once, and gets
// parsing, validation and its --help text from that declaration.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace corral::cli {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and something failed (a plugin refused, a probe broke)
inline constexpr int kExitUsage = 2;    // bad arguments or an invalid config file

struct OptionSpec {
    std::string name;        // long name without dashes: "json" for --json
    std::string value_name;  // "" for a flag; otherwise the value's name in help, e.g. "FILE"
    std::string help;
    bool repeatable = false;
    char short_name = 0;  // e.g. 'f' for -f; 0 for none
};

struct CommandSpec {
    std::string name;  // "plugins inspect"
    std::string summary;
    std::vector<std::string> positionals;  // required, in order, e.g. {"FILE"}
    std::vector<OptionSpec> options;
    std::string details;  // extra paragraphs for --help
};

struct ParsedArgs {
    std::map<std::string, std::vector<std::string>> options;  // flags map to {""}
    std::vector<std::string> positionals;
    bool help = false;

    bool flag(const std::string& name) const { return options.count(name) != 0; }
    std::optional<std::string> value(const std::string& name) const;
    std::vector<std::string> values(const std::string& name) const;
    // The option's value as an integer; empty when absent. Throws UsageError when it is not one.
    std::optional<int> integer(const std::string& name) const;
};

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Parses args (without the program and subcommand names). --help and -h set `help`.
// Throws UsageError for unknown options, missing values or a wrong number of positionals.
ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args);

std::string help_text(const CommandSpec& spec);

}  // namespace corral::cli
