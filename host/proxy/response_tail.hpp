// What corral reads from the end of a relayed body for its metrics: the last "usage" and "timings"
// objects, in JSON bodies and in SSE streams. Read on every response, so without a JSON document:
// the object is found by its key from the end, and its counts come from a streaming (SAX) read.
#pragma once

#include <cstdint>
#include <string_view>

namespace corral::proxy {

// Token counts from the last "usage" object in a JSON or SSE body tail (unchanged where none).
void read_usage(std::string_view tail, uint64_t& prompt_tokens, uint64_t& completion_tokens);
// llama-server's prompt cache figures from the last "timings" object (cache_n, prompt_n).
void read_timings(std::string_view tail, uint64_t& cached, uint64_t& evaluated);

}  // namespace corral::proxy
