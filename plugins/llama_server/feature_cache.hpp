// Learns each llama-server binary's features once (see server_features.hpp).
#pragma once

#include "once_per_key.hpp"
#include "server_features.hpp"

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace corral::llama {

// Runs `binary --help` the first time a binary (path and modification time) is seen, once however
// many starts ask at the same time. A binary whose --help fails or hangs is taken to support none of
// the optional features.
class ServerFeatureCache {
public:
    // `env` is the environment servers get (the complete "KEY=VALUE" list).
    ServerFeatures of(boost::asio::io_context& io, const std::filesystem::path& binary, const std::vector<std::string>& env);

private:
    plugin_common::OncePerKey<std::pair<std::string, std::filesystem::file_time_type>, ServerFeatures> known_;
};

}  // namespace corral::llama
