// Relays one request to a model server and its response back to the client as it arrives: bodies
// are read with async_read_some and written at once, so SSE tokens are never held back. A client
// that goes away closes the upstream connection (llama-server then cancels the generation); a
// server that dies mid-stream ends an SSE response with an error event.
#pragma once

#include "proxy/exchange.hpp"
#include "proxy/upstream_pool.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace corral::proxy {

struct ForwardResult {
    enum class Outcome { Complete, ClientGone, UpstreamFailed } outcome = Outcome::Complete;
    int status = 0;                 // upstream status (0 when none came)
    std::string error;              // for UpstreamFailed; no address (clients see it)
    bool connect_failed = false;    // nothing reached the server: the request may be retried
    bool client_timed_out = false;  // ClientGone because a write made no progress for write_timeout
    std::optional<double> first_byte_seconds;
    uint64_t prompt_tokens = 0;  // from the response's "usage", when it has one
    uint64_t completion_tokens = 0;
    uint64_t prompt_cached = 0;     // prompt tokens the server took from its cache ("timings"."cache_n")
    uint64_t prompt_evaluated = 0;  // and those it evaluated ("timings"."prompt_n")
};

struct ForwardOptions {
    std::string endpoint;               // "http://host:port" of the server
    std::string_view target;            // the request target sent upstream ("": the client's); the caller keeps it
    std::string_view upstream_key;      // sent as `Authorization: Bearer` ("": none); the caller keeps it
    bool headers_already_sent = false;  // a loading-progress SSE response is under way: relay the body only
};

boost::asio::awaitable<ForwardResult> forward(Exchange& exchange, UpstreamPool& pool, const ForwardOptions& options);

}  // namespace corral::proxy
