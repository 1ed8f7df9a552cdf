// The start of a request's prompt: the key prefix routing hashes so that requests whose prompts start
// alike reach the same replica (and its prompt cache). For chat-shaped bodies (OpenAI `messages`,
// Anthropic `system` + `messages`, Responses `instructions` + `input`) it is the system prompt and the
// first user message, the same for every turn of a conversation; for completions the first bytes of
// `prompt` (or `content`). Capped at `max_bytes`.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace corral::proxy {

// nullopt when the body is not JSON or has no prompt corral recognises.
std::optional<std::string> prompt_prefix(std::string_view body, std::size_t max_bytes = 4096);

}  // namespace corral::proxy
