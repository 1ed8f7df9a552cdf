#include "cli/commands.hpp"
#include "cli/json_output.hpp"

#include <corral/sdk/plugin_abi.h>
#include <corral/sdk/version.hpp>

#include <boost/json.hpp>
#include <boost/version.hpp>

#include <iostream>

namespace corral::cli {

Command version_command() {
    CommandSpec spec{"version", "Print corral's version and the plugin ABI it supports.", {}, {{"json", "", "Print JSON"}}, {}};
    return {spec, [](const ParsedArgs& args) {
                std::string abi = std::to_string(CORRAL_ABI_MAJOR) + "." + std::to_string(CORRAL_ABI_MINOR);
                if (args.flag("json")) {
                    write_pretty_json(
                        std::cout, boost::json::object{{"version", CORRAL_SDK_VERSION}, {"plugin_abi", abi}, {"boost", BOOST_LIB_VERSION}});
                } else {
                    std::cout << "corral " << CORRAL_SDK_VERSION << " (plugin ABI " << abi << ")\n";
                }
                return kExitOk;
            }};
}

}  // namespace corral::cli
