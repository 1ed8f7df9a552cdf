// What the slurm runner says to Slurm and reads back: the job script, sbatch's arguments, the job's
// comment, and squeue's and sinfo's JSON. Pure, so unit tests check the mapping without a cluster.
//
// A server is one batch job, submitted with --no-requeue (corral decides restarts: a requeued job
// would run a second copy after a node loss while the first still serves). Its script checks the
// model and binary on the node, picks a free port there, publishes it in the job's comment, and runs
// llama-server as the job's step 0 (`srun --unbuffered`) so `sattach JOB.0` can follow its output
// without a shared filesystem.
#pragma once

#include "child_process.hpp"
#include "slurm_options.hpp"

#include <corral/sdk/types.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::slurm {

// Exit codes of the job script that are its own verdicts, not the server's.
enum ScriptExit : int {
    kScriptModelMissing = 80,
    kScriptBinaryMissing = 81,
    kScriptNoFreePort = 82,
    kScriptCannotPublish = 83,
    kScriptWorkingDirMissing = 84,
};

// The word in JobScript::args that stands for the port the script picks.
inline constexpr const char* kPortPlaceholder = "\x01port";

// A job name for an instance id: the prefix, then the id with anything but [A-Za-z0-9._-] as '_'.
std::string job_name(const std::string& prefix, const std::string& instance_id);

// What a job's comment holds: corral's mark, the instance, model and start time (set at submission),
// and the port (added by the script once it has one). Values are %XX-escaped.
struct JobComment {
    std::string instance_id;
    std::string model_name;
    int64_t started_at_ms = 0;
    std::optional<uint16_t> port;
};
std::string format_comment(const JobComment& c);
std::optional<JobComment> parse_comment(const std::string& text);  // nullopt when not corral's

struct JobScript {
    std::string binary;
    std::string model_path;
    std::string working_dir;
    std::vector<std::string> args;  // after the binary; kPortPlaceholder where the port goes
    uint16_t port_first = 20000;
    uint16_t port_last = 39999;
    JobComment comment;     // its port is the script's to fill
    std::string cache_dir;  // created first when not empty (the server's --slot-save-path)
};

// The batch script (bash), every configured word quoted.
std::string job_script(const JobScript& s);

// sbatch's arguments (the script comes on its stdin): --parsable --no-requeue, one task on one node,
// the name, comment, resources and the configured sbatch_args.
std::vector<std::string> sbatch_arguments(const SlurmOptions& o, const std::string& name, const std::string& comment);

// One job as `squeue --json` (Slurm 22.05 and later) describes it.
struct JobInfo {
    uint64_t id = 0;
    std::string name;
    std::string state;   // PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, NODE_FAIL, ...
    std::string reason;  // why it waits or ended (Resources, Priority, NodeDown, ...); "None" otherwise
    std::string batch_host;
    std::string nodes;
    std::string comment;
    std::optional<int64_t> exit_code;  // the raw wait status: 768 is exit 3, 9 is SIGKILL
    std::vector<std::string> gres;     // "gpu:fake:1(IDX:0)"
    uint32_t restarts = 0;
};

// Parses squeue's JSON (every job slurmctld still holds: 22.05 ignores -j with --json). Throws
// std::runtime_error for anything else.
std::vector<JobInfo> parse_squeue_json(const std::string& text);

// One job as `squeue --noheader --format=<kSqueueLineFormat>` prints it (state, reason, batch host
// and comment: what a start waits on, cheaper than the JSON); nullopt for another line.
inline constexpr const char* kSqueueLineFormat = "%T|%r|%B|%k";
std::optional<JobInfo> parse_squeue_line(const std::string& line);

// The address of each node (sinfo --json: nodes[].name -> address). Throws std::runtime_error.
std::map<std::string, std::string> parse_node_addresses(const std::string& text);

// Whether the job is over for its server: it has ended, or is ending (COMPLETING).
bool job_ended(const std::string& state);
bool job_waiting(const std::string& state);  // PENDING, CONFIGURING, REQUEUED, RESIZING, SUSPENDED

// How the server ended, from the job's raw wait status: the step's own signal where srun reported it
// as 128 + N.
plugin_common::ExitStatus exit_status_of(const JobInfo& job);

// The GPU indexes the job was given, from its gres detail ("gpu:fake:2(IDX:0-1)" -> "0-1").
std::string gpu_indexes(const JobInfo& job);

// When to run `sattach JOB.0` again after it failed `failures` times in a row. It fails at once while
// the script has published its port but srun has not made step 0 yet, which a loaded node can take
// seconds to do, and when its connection to the node drops. 100 ms, doubling up to 1 s, for 30 s of
// waits in all; nullopt once they are spent (the server's lines are then not followed, the job's state
// still is). Zero failures: at once.
inline constexpr std::chrono::milliseconds kAttachRetryWindow{30'000};
std::optional<std::chrono::milliseconds> attach_retry_delay(int failures);

}  // namespace corral::slurm
