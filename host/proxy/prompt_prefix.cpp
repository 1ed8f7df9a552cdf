#include "proxy/prompt_prefix.hpp"

#include "proxy/body_fields.hpp"

#include <boost/json.hpp>

namespace corral::proxy {
namespace {

namespace json = boost::json;

// A message's text: a string, or the "text" of each part of an array of content parts.
void append_text(const json::value& content, std::string& out) {
    if (content.is_string()) {
        out.append(content.get_string().data(), content.get_string().size());
    } else if (content.is_array()) {
        for (const auto& part : content.get_array()) {
            if (part.is_string()) {
                append_text(part, out);
            } else if (const auto* o = part.if_object()) {
                if (const auto* text = o->if_contains("text")) append_text(*text, out);
            }
        }
    }
}

// The system messages at the start and the first user message, each as "role\ntext\n".
bool append_conversation_start(const json::array& messages, std::string& out) {
    bool any = false;
    for (const auto& m : messages) {
        const auto* o = m.if_object();
        if (!o) continue;
        const auto* role = o->if_contains("role");
        const std::string_view r = role && role->is_string() ? std::string_view(role->get_string()) : std::string_view("user");
        out.append(r).push_back('\n');
        if (const auto* content = o->if_contains("content")) append_text(*content, out);
        out.push_back('\n');
        any = true;
        if (r != "system" && r != "developer") break;
    }
    return any;
}

}  // namespace

std::optional<std::string> prompt_prefix(std::string_view body, std::size_t max_bytes) {
    json::parse_options options;
    options.max_depth = kMaxBodyDepth;
    boost::system::error_code ec;
    auto v = json::parse(body, ec, {}, options);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.get_object();
    std::string out;
    bool found = false;
    for (const char* system : {"system", "instructions"}) {  // Anthropic, Responses
        if (const auto* s = o.if_contains(system)) {
            out.append("system\n");
            append_text(*s, out);
            out.push_back('\n');
            found = true;
        }
    }
    if (const auto* messages = o.if_contains("messages"); messages && messages->is_array()) {
        found = append_conversation_start(messages->get_array(), out) || found;
    } else if (const auto* input = o.if_contains("input"); input && input->is_array()) {
        found = append_conversation_start(input->get_array(), out) || found;
    } else {
        for (const char* key : {"prompt", "input", "content"}) {
            const auto* p = o.if_contains(key);
            if (!p) continue;
            if (p->is_string()) {
                out.append(p->get_string().data(), p->get_string().size());
            } else {
                out += json::serialize(*p);  // token arrays, or several prompts: their text as sent
            }
            found = true;
            break;
        }
    }
    if (!found) return std::nullopt;
    if (out.size() > max_bytes) out.resize(max_bytes);
    return out;
}

}  // namespace corral::proxy
