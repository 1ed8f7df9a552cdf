// What /v1/models tells about each model beyond corral's own fields:
//   - "details" and "capabilities", from its GGUF file (every part of a split set, and its --mmproj
//     projector) and the arguments its server gets, whether it runs or not: architecture, parameter
//     count, quantization, trained context, file size; completion, chat (a chat template),
//     embeddings / rerank (the server's flags), vision / audio (the projector's encoders);
//   - "meta": for a running model, the facts its server reports in its own /v1/models entry
//     (fetched once per server); otherwise the file's, under llama-server's names.
// Files are read once per version (path, size, modification time).
#pragma once

#include "config/config.hpp"
#include "proxy/upstream_pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::proxy {

// A model file as /v1/models describes it.
struct FileSummary {
    std::string architecture;
    uint64_t parameters = 0;
    std::string quantization;  // "Q8_0", "F16", ... ("" when the file does not say)
    std::optional<uint64_t> context_length;
    uint64_t file_size = 0;  // bytes on disk, every part
    int files = 1;           // parts of a split set
    bool chat_template = false;
    bool embedding_model = false;  // pooling or non-causal attention: vectors, not text
    boost::json::object meta;      // llama-server's names: n_vocab, n_ctx_train, n_embd, n_params, size, ...
};

struct ProjectorSummary {
    bool vision = false;
    bool audio = false;
};

// {"format", "architecture", "parameters", "parameter_size", "quantization", "context_length",
// "file_size", "files"}
boost::json::object details_json(const FileSummary& file);
// What the model's server can do, from the file, the projector and the server's arguments.
std::vector<std::string> capabilities_of(const FileSummary& file, const std::optional<ProjectorSummary>& projector,
                                         const std::vector<std::string>& server_args);
// The value of --mmproj (or -mm) in a server's arguments.
std::optional<std::filesystem::path> projector_argument(const std::vector<std::string>& server_args);

class ModelFacts {
public:
    // The server's own /v1/models entry for the model (without the fields corral sets itself);
    // nullopt when the server does not answer within `timeout`.
    boost::asio::awaitable<std::optional<boost::json::object>> of_server(UpstreamPool& pool, const std::string& instance_id,
                                                                         const std::string& endpoint, const std::string& key,
                                                                         std::chrono::milliseconds timeout);
    // {"details", "capabilities", "meta"} from the model's files; empty when they cannot be read
    // (a mock model, a path on another machine).
    boost::json::object of_model(const config::ModelConfig& model);
    // Forgets servers that are gone.
    void forget_server(const std::string& instance_id) { servers_.erase(instance_id); }

private:
    const std::optional<FileSummary>& file(const std::filesystem::path& path);
    const std::optional<ProjectorSummary>& projector(const std::filesystem::path& path);

    std::map<std::string, boost::json::object> servers_;  // instance id -> entry
    template <class T>
    struct Cached {
        std::filesystem::file_time_type mtime;
        uintmax_t size = 0;
        bool read = false;
        std::optional<T> value;
    };
    std::map<std::filesystem::path, Cached<FileSummary>> files_;
    std::map<std::filesystem::path, Cached<ProjectorSummary>> projectors_;
};

// A GET to a model server with its key, answered with JSON; nullopt on any failure or timeout.
boost::asio::awaitable<std::optional<boost::json::value>> get_json(UpstreamPool& pool, const std::string& endpoint,
                                                                   const std::string& target, const std::string& key,
                                                                   std::chrono::milliseconds timeout);

}  // namespace corral::proxy
