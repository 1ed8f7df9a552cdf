// A load generator for streaming chat completions: N clients at once, each on its own connection,
// all driven by one Asio thread, timing the first token and the gap between tokens as they arrive.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace corral::bench {

struct StreamLoadResult {
    int clients = 0;
    int errors = 0;  // not 200, a broken connection, or a stream without [DONE]
    uint64_t tokens = 0;
    double seconds = 0;           // from the first request sent to the last stream ended
    std::vector<double> ttft_ms;  // per successful client
    std::vector<double> gap_ms;   // between consecutive token events, all clients
    std::string first_error;
};

// Starts `clients` streaming requests with `body` (a JSON chat request with "stream": true) to
// http://host:port/v1/chat/completions at once and waits for all of them (with `Authorization:
// Bearer key` when a key is given).
StreamLoadResult run_stream_load(const std::string& host, uint16_t port, const std::string& body, int clients, const std::string& key = "",
                                 std::chrono::seconds timeout = std::chrono::seconds(120));

}  // namespace corral::bench
