// The two fields corral reads from a request body to route it: the top-level "model" and "stream".
// A streaming (SAX) read with no depth limit and no document built: corral needs nothing else from
// a body, and must not refuse what the server accepts (response_format schemas nest deep).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace corral::proxy {

struct BodyFields {
    std::optional<std::string> model;
    bool stream = false;
    std::string error;  // not JSON, not an object, or a "model" that is not a string
};

BodyFields read_body_fields(std::string_view body);

}  // namespace corral::proxy
