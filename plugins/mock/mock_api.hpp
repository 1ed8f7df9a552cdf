// The mock server's answers, as pure functions of the request so they are easy to read and test.
#pragma once

#include "mock_options.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace corral::mock {

// The generated tokens for a request: the configured reply's words, cycled, `count` of them.
std::vector<std::string> generate_tokens(const MockOptions& options, uint32_t count);

// Token ids for a text (one per byte, offset past the special tokens), as /tokenize returns.
std::vector<int64_t> tokenize(const std::string& text);

// An OpenAI error object: {"error": {"message", "type", "code"}}.
boost::json::value error_body(int status, const std::string& message, const std::string& type);

// The reasoning a chat answer streams before its content (the `reasoning` option's words, once);
// empty when the option is not set.
std::vector<std::string> reasoning_tokens(const MockOptions& options);

// Non-streamed chat completion (chat = true, with `reasoning_content` when there is reasoning) or
// text completion.
boost::json::value completion_body(bool chat, const std::string& model, const std::vector<std::string>& tokens, uint32_t prompt_tokens,
                                   const std::vector<std::string>& reasoning = {});

// What a stream's closing chunk reports, as llama-server's does: `usage` and `timings`.
struct StreamTotals {
    uint32_t prompt_tokens = 0;
    uint32_t completion_tokens = 0;
};

// One SSE chunk: a token (finish = false) or the closing chunk with finish_reason "stop" (and the
// totals); a chat token of reasoning goes in `delta.reasoning_content`, as llama-server sends a
// thinking model's.
boost::json::value completion_chunk(bool chat, const std::string& model, const std::string& token, bool finish, bool reasoning = false,
                                    StreamTotals totals = {});

}  // namespace corral::mock
