#include "mock_api.hpp"

#include <boost/json.hpp>

#include <chrono>

namespace corral::mock {
namespace {

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<std::string> words(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find(' ', pos + 1);
        if (end == std::string::npos) end = text.size();
        out.push_back(text.substr(pos, end - pos));
        pos = end;
    }
    return out;
}

std::string joined(const std::vector<std::string>& tokens) {
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
}

}  // namespace

std::vector<std::string> generate_tokens(const MockOptions& options, uint32_t count) {
    auto vocabulary = words(options.reply);
    std::vector<std::string> tokens;
    for (uint32_t i = 0; i < count; ++i) {
        std::string t = vocabulary[i % vocabulary.size()];
        if (i > 0 && i % vocabulary.size() == 0 && t.front() != ' ') t.insert(t.begin(), ' ');
        tokens.push_back(std::move(t));
    }
    return tokens;
}

std::vector<std::string> reasoning_tokens(const MockOptions& options) {
    return options.reasoning.empty() ? std::vector<std::string>{} : words(options.reasoning);
}

std::vector<int64_t> tokenize(const std::string& text) {
    std::vector<int64_t> ids;
    for (unsigned char c : text) ids.push_back(3 + static_cast<int64_t>(c));
    return ids;
}

boost::json::value error_body(int status, const std::string& message, const std::string& type) {
    return {{"error", {{"message", message}, {"type", type}, {"code", status}}}};
}

boost::json::value completion_body(bool chat, const std::string& model, const std::vector<std::string>& tokens, uint32_t prompt_tokens,
                                   const std::vector<std::string>& reasoning) {
    boost::json::object choice{{"index", 0}, {"finish_reason", "length"}};
    if (chat) {
        boost::json::object message{{"role", "assistant"}, {"content", joined(tokens)}};
        if (!reasoning.empty()) message["reasoning_content"] = joined(reasoning);
        choice["message"] = std::move(message);
    } else
        choice["text"] = joined(tokens);
    auto n = static_cast<uint32_t>(tokens.size());
    return {{"id", chat ? "chatcmpl-mock" : "cmpl-mock"},
            {"object", chat ? "chat.completion" : "text_completion"},
            {"created", now_seconds()},
            {"model", model},
            {"choices", boost::json::array{std::move(choice)}},
            {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", n}, {"total_tokens", prompt_tokens + n}}},
            {"timings", {{"prompt_n", prompt_tokens}, {"predicted_n", n}}}};
}

boost::json::value completion_chunk(bool chat, const std::string& model, const std::string& token, bool finish, bool reasoning,
                                    StreamTotals totals) {
    boost::json::object choice{{"index", 0}, {"finish_reason", finish ? boost::json::value("stop") : boost::json::value(nullptr)}};
    if (chat)
        choice["delta"] = finish ? boost::json::object{} : boost::json::object{{reasoning ? "reasoning_content" : "content", token}};
    else
        choice["text"] = finish ? "" : token;
    boost::json::object chunk{{"id", chat ? "chatcmpl-mock" : "cmpl-mock"},
                              {"object", chat ? "chat.completion.chunk" : "text_completion"},
                              {"created", now_seconds()},
                              {"model", model},
                              {"choices", boost::json::array{std::move(choice)}}};
    if (finish) {
        const auto p = totals.prompt_tokens, n = totals.completion_tokens;
        chunk["usage"] = {{"prompt_tokens", p}, {"completion_tokens", n}, {"total_tokens", p + n}};
        chunk["timings"] = {{"prompt_n", p}, {"predicted_n", n}};
    }
    return chunk;
}

}  // namespace corral::mock
