// One mistake in a config file: where (JSON path, and line:column when known) and what was expected.
#pragma once

#include <string>
#include <vector>

namespace corral::config {

struct ConfigError {
    std::string path;     // e.g. "models.qwen.ctx_size"; "" for the document itself
    std::string message;  // e.g. "expected integer, got string"
    int line = 0;         // 1-based; 0 when unknown
    int column = 0;

    std::string to_string() const;  // "models.qwen.ctx_size: expected integer, got string"
};

using ConfigErrors = std::vector<ConfigError>;

}  // namespace corral::config
