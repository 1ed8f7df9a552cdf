// What /v1/models tells about each model beyond corral's own fields: for a running model, the
// facts its server reports in its own /v1/models entry (`meta`: n_ctx, n_ctx_train, n_params,
// size, ...; architecture, capabilities), fetched once per server; for a model not running, the
// facts its GGUF file gives, read once per file version.
#pragma once

#include "proxy/upstream_pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace corral::proxy {

class ModelFacts {
public:
    // The server's own /v1/models entry for the model (without the fields corral sets itself);
    // nullopt when the server does not answer within `timeout`.
    boost::asio::awaitable<std::optional<boost::json::object>> of_server(UpstreamPool& pool, const std::string& instance_id,
                                                                         const std::string& endpoint, const std::string& key,
                                                                         std::chrono::milliseconds timeout);
    // {"meta": {...}} from the GGUF header, with llama-server's names where it has them (n_vocab,
    // n_ctx_train, n_embd, size); empty when the file cannot be read.
    boost::json::object of_file(const std::filesystem::path& path);
    // Forgets servers that are gone.
    void forget_server(const std::string& instance_id) { servers_.erase(instance_id); }

private:
    std::map<std::string, boost::json::object> servers_;  // instance id -> entry
    struct FileFacts {
        std::filesystem::file_time_type mtime;
        uintmax_t size = 0;
        boost::json::object facts;
    };
    std::map<std::filesystem::path, FileFacts> files_;
};

// A GET to a model server with its key, answered with JSON; nullopt on any failure or timeout.
boost::asio::awaitable<std::optional<boost::json::value>> get_json(UpstreamPool& pool, const std::string& endpoint,
                                                                   const std::string& target, const std::string& key,
                                                                   std::chrono::milliseconds timeout);

}  // namespace corral::proxy
