// What of llama-server's output the runners pass on. At --log-verbosity 4 (where it prints the
// per-device buffer sizes corral learns a model's memory from) llama-server 0.7.0 also lists its
// whole prompt cache on every request, one line per cached prompt, and one line per slot it passes
// over: tens of thousands of lines per second under load (bench/README.md, streaming section).
// Those lines are dropped; its own default verbosity (3) never prints them either.
#pragma once

#include <string_view>

namespace corral::plugin_common {

// "srv          load:    - prompt with length 29, lcp = 28, ...", "srv        update:    - prompt
// 0x5573...: 29 tokens, ...", "slot get_availabl: id  3 | task -1 |  - skipping, slot is empty".
inline bool is_prompt_cache_listing(std::string_view line) {
    if (line.find(":    - prompt ") != std::string_view::npos) return line.find(" srv ") != std::string_view::npos;
    return line.find("get_availabl: ") != std::string_view::npos && line.find("|  - skipping") != std::string_view::npos;
}

}  // namespace corral::plugin_common
