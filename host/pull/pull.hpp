// `corral pull` and POST /corral/models/pull: fetches a model file into a folder so that it is
// whole, verified and in place, or not there at all.
//
//   - the bytes go to NAME.partial (with NAME.partial.json: the URL and the validator they came
//     with); an interrupted pull resumes from there with an HTTP Range request (If-Range: a file
//     that changed on the server starts over);
//   - SHA-256 is computed while the bytes arrive (the resumed part read once first) and checked
//     against --sha256, or for hf: sources the repository's published digest; a mismatch moves
//     the file to quarantine/ with a note of both digests;
//   - the whole file is renamed to NAME atomically (a models_dir watch sees it only then);
//   - transient failures (network, timeouts, 5xx, 429) are retried with backoff, resuming.
//   - naming a part of a split model (NAME-00001-of-00003.gguf) pulls every part in turn, each
//     verified on its own (against the hub's digest for it: --sha256 names one file only).
// What happens is reported as PullEvents; run_pull returns once it is done, failed or stopped.
#pragma once

#include "pull/pull_events.hpp"
#include "pull/pull_source.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

namespace corral::pull {

struct PullOptions {
    PullSource source;
    std::filesystem::path dir;                   // made when missing
    std::string file_name;                       // target_file_name() (a split set's: any part's)
    std::optional<std::string> expected_sha256;  // normalized, for one file only; hf: sources look one up when empty
    std::string hf_token;                        // sent to the Hugging Face endpoint only
    std::string ca_file;                         // "" for the system's certificates
    int retries = 3;                             // after the first attempt, transient failures only
    std::chrono::milliseconds progress_interval{250};
    std::chrono::seconds connect_timeout{30};
    std::chrono::seconds stall_timeout{60};
    std::function<void(const PullEvent&)> on_event;
    std::stop_token stop;
};

// The Done or Error event that ended the pull (also sent to on_event); never throws.
PullEvent run_pull(const PullOptions& options);

// Decisions, unit-tested without I/O.

// Whether a failure is worth another attempt: network trouble, timeouts, 429 and 5xx.
bool is_transient(std::string_view code, long http_status);
// Seconds before retry `attempt` (2 = the first retry): 1, 2, 4, ... at most 30.
double backoff_seconds(int attempt);
// Why `need` more bytes will not fit when `available` are free ("" when they fit); the margin keeps
// the file system from being filled to the last block.
std::string space_shortfall(uint64_t need, uint64_t available, const std::filesystem::path& dir);
// Where a file that failed verification goes: DIR/quarantine/<UTC time>-NAME.
std::filesystem::path quarantine_path(const std::filesystem::path& dir, const std::string& file_name,
                                      std::chrono::system_clock::time_point now);
// The first byte of a 206 response's Content-Range ("bytes 100-199/200" -> 100); nullopt when
// unreadable. The total after '/' through content_range_total ("bytes */200" -> 200).
std::optional<uint64_t> content_range_start(std::string_view value);
std::optional<uint64_t> content_range_total(std::string_view value);

}  // namespace corral::pull
