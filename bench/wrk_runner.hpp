// Runs wrk (Debian's `wrk`) against one URL with a POST body and reads its report.
#pragma once

#include "bench_support.hpp"

#include <string>

namespace corral::bench {

struct WrkResult {
    double requests_per_second = 0;
    double p50_ms = 0, p90_ms = 0, p99_ms = 0;
    uint64_t requests = 0;
    uint64_t errors = 0;  // non-2xx answers and socket errors
    std::string raw;      // wrk's own report, kept for the JSON
};

// POSTs `body` (JSON) to `url` over `connections` keep-alive connections for `seconds`, with
// `Authorization: Bearer key` when a key is given.
WrkResult run_wrk(const fs::path& work, const std::string& url, const std::string& body, int connections, int seconds,
                  const std::string& key = "");

// Pure: wrk's --latency report to numbers (exposed for checking the parser).
WrkResult parse_wrk(const std::string& report);

}  // namespace corral::bench
