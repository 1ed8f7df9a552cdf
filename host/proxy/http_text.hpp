// Text that crosses the HTTP boundary: percent-decoding what clients send, keeping what corral
// sends back valid UTF-8, and the OpenAI error object. No I/O (the fuzz target links it alone).
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace corral::proxy {

// The OpenAI error object {"error":{"message","type","code"}}; client text in it is made valid UTF-8.
boost::json::value openai_error(const std::string& message, const std::string& type, const std::string& code);

// Percent-encodes a path segment (all but RFC 3986's unreserved characters).
std::string url_encode(std::string_view segment);

// Percent-decodes a path segment or query value; nullopt for a malformed escape or a result that
// is not UTF-8.
std::optional<std::string> url_decode(std::string_view text);

// Whether `text` is well-formed UTF-8; a copy with each byte that is not replaced by U+FFFD.
bool valid_utf8(std::string_view text);
std::string to_valid_utf8(std::string_view text);

}  // namespace corral::proxy
