// The two fields corral reads from a request body to route it: the top-level "model" and "stream".
// A streaming (SAX) read with no document built: corral needs nothing else from a body, and must
// not refuse what the server accepts (response_format and tool schemas nest deep). Boost.JSON's
// parser recurses per level, so the depth is bounded, far above any schema a client sends.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace corral::proxy {

constexpr std::size_t kMaxBodyDepth = 1000;

struct BodyFields {
    std::optional<std::string> model;
    bool stream = false;
    std::string error;  // not JSON, not an object, or a "model" that is not a string
};

BodyFields read_body_fields(std::string_view body);

}  // namespace corral::proxy
