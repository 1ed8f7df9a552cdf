// What of llama-server's output the runners pass on. At --log-verbosity 4 (where it prints the
// per-device buffer sizes corral learns a model's memory from) llama-server 0.7.0 also lists its
// whole prompt cache on every request, one line per cached prompt, and one line per slot it passes
// over: tens of thousands of lines per second under load (bench/README.md, streaming section).
// Those lines are dropped; its own default verbosity (3) never prints them either.
//
// pass_on_server_line is how every runner passes on a line of a server's output.
#pragma once

#include "child_process.hpp"
#include "log_ring.hpp"
#include "start_signal.hpp"

#include <corral/sdk/host.hpp>

#include <string>
#include <string_view>

namespace corral::plugin_common {

// "srv          load:    - prompt with length 29, lcp = 28, ...", "srv        update:    - prompt
// 0x5573...: 29 tokens, ...", "slot get_availabl: id  3 | task -1 |  - skipping, slot is empty".
inline bool is_prompt_cache_listing(std::string_view line) {
    if (line.find(":    - prompt ") != std::string_view::npos) return line.find(" srv ") != std::string_view::npos;
    return line.find("get_availabl: ") != std::string_view::npos && line.find("|  - skipping") != std::string_view::npos;
}

// Passes on one line of a model server's output as every runner does: llama-server's prompt-cache
// listing is dropped; any other line is kept in `log` while the start can still fail (for its
// "Last lines"; `start` null: no start in progress) and sent to the host. False for a dropped line.
inline bool pass_on_server_line(const sdk::Host& host, std::string_view instance_id, const char* stream, const std::string& line,
                                LogRing& log, const StartSignal* start) {
    if (is_prompt_cache_listing(line)) return false;
    if (!start || !start->ready()) log.push(line);
    host.emit_log_line(instance_id, stream, line);
    return true;
}

// Once `start` is over (ready; or none: an adopted server), nothing waits on `process`'s next
// line: a busy server's output may come in batches (ChildProcess::settle_output). For a runner's
// follower of a server's output (an ssh session, `podman logs`, sattach), from its line handler:
// a follower started again later is settled by its first line.
inline void settle_once_started(ChildProcess* process, const StartSignal* start) {
    if (process && (!start || start->ready())) process->settle_output();
}

// Whether `line` begins `start`'s /health checks (check_ready): the server's "listening" line,
// the first time.
inline bool begins_ready_checks(const StartSignal* start, const std::string& line) {
    return start && !start->listening && is_listening_line(line);
}

}  // namespace corral::plugin_common
