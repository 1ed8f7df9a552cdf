// Options of the slurm runner (its "runners" entry). Models may override the job part (partition,
// account, qos, time_limit, gpus, cpus, memory, constraint, sbatch_args, binary, working_dir, env,
// extra_args, port_range, startup_timeout_ms, log_verbosity) in their "runner_options"; how the
// cluster is reached (slurm_conf, commands_dir, job_name_prefix, poll_interval_ms, slot_cache_dir) is the runner's.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::slurm {

struct SlurmOptions {
    // The cluster (runner only).
    std::string slurm_conf;                   // SLURM_CONF for every Slurm command; empty: theirs
    std::string commands_dir;                 // where sbatch, squeue, scancel, sattach and sinfo are; empty: PATH
    std::string job_name_prefix = "corral-";  // jobs are named <prefix><instance>; list_running() and adoption read it
    std::string cluster_name = "slurm";       // the machine name corral shows for this runner's servers
    std::chrono::milliseconds poll_interval{std::chrono::seconds(5)};  // the fallback state check
    // Where the servers keep prompt caches across unloads: an absolute directory on a filesystem
    // the nodes share with corral's machine (it lists and prunes them); empty: none are kept.
    std::string slot_cache_dir;

    // One job (runner, or the model's runner_options).
    std::string partition;
    std::string account;
    std::string qos;
    std::string time_limit;  // Slurm's forms: minutes, [D-]HH:MM[:SS], UNLIMITED
    std::optional<uint32_t> gpus;
    std::optional<uint32_t> cpus;
    std::string memory;      // per node: 512M, 16G, or megabytes
    std::string constraint;  // node features
    std::vector<std::string> sbatch_args;
    std::string binary = "llama-server";  // as the nodes see it
    std::string working_dir = "/tmp";     // the job's working directory on its node
    std::map<std::string, std::string> env;
    std::vector<std::string> extra_args;
    uint16_t port_first = 20000;  // the job picks a free port of [first, last] on its node
    uint16_t port_last = 39999;
    std::chrono::milliseconds startup_timeout{std::chrono::minutes(10)};  // queue wait + load
    uint32_t log_lines = 5000;
    std::optional<uint32_t> log_verbosity;  // unset: 4 while the host measures memory, else the server's default
};

extern const char* const kSlurmOptionsSchema;

// The runner's options ("options"). Throws sdk::JsonPathError.
SlurmOptions parse_runner_options(const boost::json::object& options, const std::string& path);

// A model's overrides ("runner_options") on top of the runner's options. Lists (sbatch_args,
// extra_args) are appended, env merged.
SlurmOptions parse_model_options(SlurmOptions base, const boost::json::object& options, const std::string& path);

// Why an sbatch argument is refused (empty when it is allowed): only --long[=value] options, and
// none that changes what the runner relies on (one task on one node, no requeue, its own name,
// comment, output, environment and working directory).
std::string sbatch_arg_problem(const std::string& arg);

}  // namespace corral::slurm
