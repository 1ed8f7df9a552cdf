// CORS for browser pages (the llama.cpp web UI, chat front-ends): corral answers preflights and
// adds Access-Control-Allow-Origin to its own and relayed responses for the origins in
// `cors_origins` ("*" for any). None by default: a page on another origin cannot call corral.
// The servers' own CORS headers are never relayed; this policy replaces them.
#pragma once

#include "proxy/exchange.hpp"

#include <string>
#include <vector>

namespace corral::proxy {

class Cors {
public:
    explicit Cors(std::vector<std::string> origins) : origins_(std::move(origins)) {}

    // Whether the request's Origin may read the response; when it may, the exchange's responses
    // carry Access-Control-Allow-Origin (the origin itself) and Vary: Origin.
    bool apply(Exchange& ex) const;
    // Answers OPTIONS: 204 with the allowed methods, and for an allowed origin's preflight the
    // headers it asked for (Access-Control-Request-Headers) and a max age.
    boost::asio::awaitable<void> preflight(Exchange& ex, bool origin_allowed) const;

private:
    std::vector<std::string> origins_;
};

}  // namespace corral::proxy
