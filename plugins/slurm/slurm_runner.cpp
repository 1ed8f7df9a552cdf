// The slurm runner plugin: each model server is a batch job on a Slurm cluster, driven through
// Slurm's commands (sbatch, squeue, scancel, sattach, sinfo) and their JSON answers. The cluster
// decides where a server runs (node, GPUs); corral decides which models run, routes and supervises.
//
// Start submits the job (slurm_jobs.hpp: --no-requeue, the script picks and publishes the port) and
// waits for it to run, reporting the queue's reason while it waits (Slurm has no start event on the
// command line: the job's state is asked with a backoff up to a second, only while starting). Then
// `sattach JOB.0` follows the server's output, and its end is the event that the job ended; a
// modest fallback check (poll_interval_ms, one `squeue --json` for all jobs) catches what sattach
// cannot see, such as a lost node (NODE_FAIL). Stop is SIGTERM to the server's step, then SIGKILL and
// scancel once corral's grace is over. Jobs are named <prefix><instance> and carry the
// model and port in their comment, so a restarted host lists and adopts them.
#include "child_process.hpp"
#include "clock.hpp"
#include "command_line.hpp"
#include "http_health.hpp"
#include "instance_table.hpp"
#include "io_thread.hpp"
#include "llama_output.hpp"
#include "log_ring.hpp"
#include "once_per_key.hpp"
#include "port_retry.hpp"
#include "run_command.hpp"
#include "server_features.hpp"
#include "slurm_jobs.hpp"
#include "slurm_options.hpp"
#include "start_signal.hpp"
#include "stored_files.hpp"

#include <corral/sdk/sdk.hpp>

#include <boost/asio.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

namespace corral::slurm {
namespace {

namespace asio = boost::asio;
using plugin_common::ChildProcess;
using plugin_common::CommandOutput;
using plugin_common::ExitStatus;
using plugin_common::LogRing;
using plugin_common::StartOutcome;
using plugin_common::StartSignal;
using sdk::Error;
using sdk::ProcessError;
using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 30s;

bool contains(const std::string& text, const char* needle) {
    return text.find(needle) != std::string::npos;
}

struct Instance {
    sdk::ProcessHandle handle;  // endpoint empty until the job runs and has published its port
    std::string job_id;
    std::shared_ptr<LogRing> log;
    std::shared_ptr<StartSignal> start;    // while starting
    std::shared_ptr<ChildProcess> attach;  // I/O: sattach JOB.0
    int attach_failures = 0;               // I/O: sattach's failures in a row (a line it relays resets them)
    bool attach_got_line = false;          // I/O: the running sattach has relayed a line
    bool attach_pending = false;           // I/O: a retry of sattach waits for its time
    bool attach_abandoned = false;         // I/O: its retries are spent (warned once)
    bool checking = false;                 // I/O: a state check for this instance is under way
    int completing_checks = 0;             // I/O: checks that found the job COMPLETING without an exit status
    bool step_done = false;                // I/O: sattach ended 0 (step 0's output ended, unless the job still runs)

    std::mutex mutex;
    JobInfo job;  // as last seen

    std::atomic<bool> exited{false};
    std::promise<void> gone_promise;
    std::shared_future<void> gone = gone_promise.get_future().share();
};

class SlurmRunner final : public sdk::ProcessRunner {
public:
    SlurmRunner(sdk::Host host, const boost::json::object& options)
        : host_(host), options_(parse_runner_options(options, "options")), env_(environment({})), poll_timer_(io_.context()) {
        asio::post(io_.context(), [this] { schedule_poll(); });
    }

    ~SlurmRunner() override {
        for (auto& inst : instances_.running()) {
            try {
                stop_instance(inst, 5s);
            } catch (const std::exception& e) {
                host_.warn("could not cancel job ", inst->job_id, ": ", e.what());
            }
        }
        std::promise<void> detached;
        asio::post(io_.context(), [this, &detached] {
            stopping_ = true;
            poll_timer_.cancel();
            for (auto& inst : instances_.all())
                if (inst->attach) inst->attach->kill_now();
            detached.set_value();
        });
        detached.get_future().wait();
    }

    sdk::ProcessHandle start(const sdk::ServerConfig& config) override {
        auto options = parse_model_options(options_, config.runner_options, "runner_options");
        if (config.model_path.empty()) throw Error(ProcessError::Configuration, "no model path given");
        command("sbatch");  // a configuration error when Slurm's commands are not there
        if (instances_.contains(config.instance_id))
            throw Error(ProcessError::StartFailed, "instance id " + config.instance_id + " is already running");
        auto features = features_of(options);
        return plugin_common::start_with_port_retries(config.port.has_value(), host_,
                                                      [&] { return start_once(config, options, features); });
    }

    void stop(const sdk::ProcessHandle& handle, std::chrono::milliseconds grace) override {
        auto inst = instances_.find(handle.instance_id);
        if (!inst) {
            try {
                adopt(handle);  // left by a previous host: take it over to stop it
            } catch (const Error& e) {
                if (e.code() != ProcessError::NotRunning) throw;
            }
            inst = instances_.find(handle.instance_id);
        }
        if (!inst || inst->exited) {
            instances_.take(handle.instance_id);
            throw Error(ProcessError::NotRunning, "no job runs the server of " + handle.instance_id);
        }
        stop_instance(inst, grace);
        instances_.take(handle.instance_id);
    }

    bool is_running(const sdk::ProcessHandle& handle) override {
        if (auto inst = instances_.find(handle.instance_id)) return !inst->exited;
        auto job = find_job(handle.instance_id);
        return job && !job_ended(job->state);
    }

    sdk::ServerHealth health(const sdk::ProcessHandle& handle) override {
        auto endpoint = handle.endpoint;
        if (auto inst = instances_.find(handle.instance_id)) {
            std::lock_guard lock(inst->mutex);
            if (inst->handle.endpoint.empty()) {
                if (inst->exited) return {sdk::HealthState::Unreachable, std::nullopt, "job " + inst->job_id + " ended"};
                return {sdk::HealthState::Loading, std::nullopt, "job " + inst->job_id + " " + describe_wait(inst->job)};
            }
            endpoint = inst->handle.endpoint;
        }
        if (endpoint.empty()) return {sdk::HealthState::Unreachable, std::nullopt, "the server has no address yet"};
        return plugin_common::check_health_blocking(io_.context(), endpoint, 5s);
    }

    // The jobs this runner supervises, and the running jobs of a previous host (by name prefix and
    // comment: the host adopts those). Waiting jobs of a previous host are cancelled: nobody would
    // route to them once they run.
    std::vector<sdk::ProcessHandle> list_running() override {
        std::set<std::string> known;
        auto out = instances_.running_handles(known);
        std::vector<JobInfo> jobs;
        try {
            jobs = all_jobs();
        } catch (const std::exception& e) {
            host_.warn("cannot list Slurm jobs: ", e.what());
            return out;
        }
        for (const auto& job : jobs) {
            if (job.name.rfind(options_.job_name_prefix, 0) != 0 || job_ended(job.state)) continue;
            auto comment = parse_comment(job.comment);
            if (!comment || known.count(comment->instance_id) || job.name != job_name(options_.job_name_prefix, comment->instance_id))
                continue;
            if (job_waiting(job.state)) {
                if (comment->started_at_ms >= created_at_ms_) continue;  // this runner's, about to be in its table
                host_.info("cancelling job ", job.id, " (", job.name, "): an earlier host submitted it and it has not started");
                slurm("scancel", {std::to_string(job.id)});
                continue;
            }
            if (auto handle = handle_of(job, *comment)) out.push_back(std::move(*handle));
        }
        return out;
    }

    sdk::ProcessHandle adopt(const sdk::ProcessHandle& record) override {
        if (auto inst = instances_.find(record.instance_id); inst && !inst->exited) return inst->handle;
        auto job = find_job(record.instance_id);
        if (!job || job_ended(job->state)) throw Error(ProcessError::NotRunning, "no job runs the server of " + record.instance_id);
        auto comment = parse_comment(job->comment);
        auto handle = comment ? handle_of(*job, *comment) : std::nullopt;
        if (!handle) {
            slurm("scancel", {std::to_string(job->id)});
            throw Error(ProcessError::NotRunning, "job " + std::to_string(job->id) + " has not started its server: cancelled");
        }
        auto inst = std::make_shared<Instance>();
        inst->handle = *handle;
        inst->job_id = std::to_string(job->id);
        inst->job = *job;
        inst->log = std::make_shared<LogRing>(options_.log_lines);
        instances_.take(record.instance_id);  // an exited one of the same id
        instances_.insert(record.instance_id, inst);
        asio::post(io_.context(), [this, inst] { attach(inst); });
        host_.info("adopted job ", inst->job_id, " for ", inst->handle.model_name, " on ", job->batch_host, " at ", inst->handle.endpoint);
        return inst->handle;
    }

    std::vector<sdk::MachineInfo> machines() override {
        sdk::MachineInfo cluster;
        cluster.name = options_.cluster_name;
        cluster.capacity_managed_elsewhere = true;
        return {cluster};
    }

    // Prompt caches, where slot_cache_dir names a filesystem the nodes share with this machine.
    std::string slot_cache_root() override {
        if (options_.slot_cache_dir.empty()) throw Error(ProcessError::NotSupported, "no slot_cache_dir: prompt caches are not kept");
        return options_.slot_cache_dir;
    }

    std::vector<sdk::StoredFile> list_files(const std::string& dir) override {
        plugin_common::require_within({dir}, slot_cache_root(), true);
        return plugin_common::list_stored_files(dir);
    }

    void remove_files(const std::vector<std::string>& paths) override {
        plugin_common::require_within(paths, slot_cache_root());
        plugin_common::remove_stored_files(paths);
    }

private:
    // ---- Slurm's commands ----------------------------------------------------------------------

    // This process's environment with `extra` and the configured SLURM_CONF.
    std::vector<std::string> environment(std::vector<std::pair<std::string, std::string>> extra) const {
        if (!options_.slurm_conf.empty()) extra.emplace_back("SLURM_CONF", options_.slurm_conf);
        return plugin_common::environment_with(extra);
    }

    std::filesystem::path command(const std::string& name) {
        auto path = options_.commands_dir.empty() ? name : (std::filesystem::path(options_.commands_dir) / name).string();
        if (auto found = plugin_common::find_executable(path)) return *found;
        throw Error(ProcessError::Configuration, "Slurm's " + name + " not found" +
                                                     (options_.commands_dir.empty() ? " in PATH" : " in " + options_.commands_dir) +
                                                     ": install the Slurm client commands or set \"commands_dir\"");
    }

    CommandOutput slurm(const std::string& name, const std::vector<std::string>& args, const std::vector<std::string>* env = nullptr,
                        const std::optional<std::string>& input = std::nullopt) {
        return plugin_common::run_command(io_.context(), command(name), args, env ? *env : env_, kCommandTimeout, input);
    }

    std::vector<JobInfo> all_jobs() {
        auto r = slurm("squeue", {"--json"});
        if (!r.ok()) throw std::runtime_error("squeue --json: " + r.error_text());
        return parse_squeue_json(r.stdout_text());
    }

    std::optional<JobInfo> find_job(const std::string& instance_id) {
        const auto name = job_name(options_.job_name_prefix, instance_id);
        std::optional<JobInfo> found;
        for (auto& job : all_jobs()) {
            auto comment = parse_comment(job.comment);
            if (job.name != name || !comment || comment->instance_id != instance_id) continue;
            if (!found || job.id > found->id) found = std::move(job);  // the newest of that name
        }
        return found;
    }

    // One job's state, from squeue's one-line format (cheaper than its JSON while a start waits).
    std::optional<JobInfo> job_state(const std::string& job_id) {
        auto r = slurm("squeue", {"--noheader", "--jobs=" + job_id, "--states=all", std::string("--format=") + kSqueueLineFormat});
        if (!r.ok() || r.out.empty()) return std::nullopt;
        return parse_squeue_line(r.out.front());
    }

    std::string node_address(const std::string& node) {
        {
            std::lock_guard lock(mutex_);
            if (auto it = node_addresses_.find(node); it != node_addresses_.end()) return it->second;
        }
        auto r = slurm("sinfo", {"--json"});
        std::map<std::string, std::string> addresses;
        if (r.ok()) {
            try {
                addresses = parse_node_addresses(r.stdout_text());
            } catch (const std::exception& e) {
                host_.warn("cannot read sinfo --json: ", e.what());
            }
        }
        std::lock_guard lock(mutex_);
        for (auto& [name, address] : addresses) node_addresses_[name] = address;
        auto it = node_addresses_.find(node);
        return it == node_addresses_.end() ? node : it->second;  // the node's name, when Slurm knows no address
    }

    std::optional<sdk::ProcessHandle> handle_of(const JobInfo& job, const JobComment& comment) {
        if (job.state != "RUNNING" || !comment.port || job.batch_host.empty()) return std::nullopt;
        sdk::ProcessHandle h;
        h.instance_id = comment.instance_id;
        h.model_name = comment.model_name;
        h.runner = "slurm";
        h.started_at_ms = comment.started_at_ms;
        h.endpoint = plugin_common::format_http_endpoint(node_address(job.batch_host), *comment.port);
        h.runner_data = runner_data(std::to_string(job.id), job);
        return h;
    }

    boost::json::object runner_data(const std::string& job_id, const JobInfo& job) const {
        boost::json::object o{{"job_id", job_id}, {"job_name", job.name}, {"cluster", options_.cluster_name}};
        if (!job.batch_host.empty()) o["node"] = job.batch_host;
        if (auto gpus = gpu_indexes(job); !gpus.empty()) o["gpus"] = gpus;
        return o;
    }

    static std::string describe_wait(const JobInfo& job) {
        if (job.state.empty()) return "is submitted";
        if (job.state == "RUNNING") return "runs on " + job.batch_host + ", starting its server";
        const bool reason = !job.reason.empty() && job.reason != "None";
        if (job_waiting(job.state)) return "waits in the queue (" + job.state + (reason ? ": " + job.reason : "") + ")";
        return "is " + job.state + (reason ? " (" + job.reason + ")" : "");
    }

    // What the binary supports, from its --help where corral's machine sees the same path (a shared
    // filesystem); otherwise the flags every supported llama-server has.
    llama::ServerFeatures features_of(const SlurmOptions& options) {
        return features_.get(options.binary, [&] {
            auto binary = plugin_common::find_executable(options.binary);
            if (!binary) {
                host_.debug(options.binary, " is not on this machine: assuming no optional llama-server features");
                return llama::ServerFeatures{};
            }
            return llama::parse_help(plugin_common::run_command(io_.context(), *binary, {"--help"}, env_, kCommandTimeout).all_text());
        });
    }

    // ---- start ----------------------------------------------------------------------------------

    sdk::ProcessHandle start_once(const sdk::ServerConfig& config, const SlurmOptions& options, const llama::ServerFeatures& features) {
        const std::string id = config.instance_id;
        auto inst = std::make_shared<Instance>();
        inst->log = std::make_shared<LogRing>(options.log_lines);
        inst->start = std::make_shared<StartSignal>();
        auto outcome = inst->start->future();
        auto& handle = inst->handle;
        handle.instance_id = id;
        handle.model_name = config.model_name;
        handle.runner = "slurm";
        handle.started_at_ms = plugin_common::unix_time_ms();

        auto server = config;
        server.host = "0.0.0.0";  // corral reaches it from another machine
        // Only under slot_cache_dir, which the nodes share (the host puts every cache directory there).
        plugin_common::keep_within(server.slot_save_path, options_.slot_cache_dir);
        llama::ArgumentOptions argument_options{features, options.log_verbosity, options.extra_args};
        JobScript script;
        script.binary = options.binary;
        script.model_path = config.model_path;
        script.working_dir = options.working_dir;
        script.args = llama::server_arguments(server, 1, argument_options);
        if (server.slot_save_path && features.slot_save_path) script.cache_dir = *server.slot_save_path;
        for (std::size_t i = 0; i + 1 < script.args.size(); ++i)
            if (script.args[i] == "--port") script.args[i + 1] = kPortPlaceholder;
        script.port_first = config.port ? *config.port : options.port_first;
        script.port_last = config.port ? *config.port : options.port_last;
        script.comment = {id, config.model_name, handle.started_at_ms, std::nullopt};
        const auto name = job_name(options.job_name_prefix, id);

        // The server's environment (its key among it) travels in sbatch's: never on a command line.
        std::vector<std::pair<std::string, std::string>> extra(options.env.begin(), options.env.end());
        extra.insert(extra.end(), config.env.begin(), config.env.end());
        auto env = environment(extra);
        // The ready checks begin when the job runs, not at the server's "listening" line (its output
        // may never come): the answering server must show it holds its key (OwnerProof).
        std::map<std::string, std::string> server_env;
        for (auto& [k, v] : extra) server_env[k] = v;  // the model's after the runner's: the later wins
        auto proof = plugin_common::owner_proof(llama::server_key(script.args, server_env), host_, id);
        auto r = slurm("sbatch", sbatch_arguments(options, name, format_comment(script.comment)), &env, job_script(script));
        if (!r.ok() || r.out.empty() || r.out.front().empty()) {
            auto text = r.error_text();
            if (contains(text, "nvalid") || contains(text, "not available") || contains(text, "unrecognized option") ||
                contains(text, "Unable to allocate"))
                throw Error(ProcessError::Configuration, "sbatch refused the job for " + config.model_name + ": " + text);
            throw Error(ProcessError::StartFailed, "sbatch failed for " + config.model_name + ": " + text);
        }
        inst->job_id = r.out.front().substr(0, r.out.front().find(';'));  // "ID" or "ID;cluster"
        if (inst->job_id.empty() || inst->job_id.find_first_not_of("0123456789") != std::string::npos)
            throw Error(ProcessError::StartFailed, "sbatch answered no job id for " + config.model_name + ": " + r.stdout_text());
        JobInfo submitted;
        submitted.name = name;
        handle.runner_data = runner_data(inst->job_id, submitted);
        if (!instances_.insert(id, inst)) {
            slurm("scancel", {inst->job_id});
            throw Error(ProcessError::StartFailed, "instance id " + id + " is already running");
        }
        host_.info("submitted job ", inst->job_id, " (", name, ") for ", config.model_name);

        const auto deadline = std::chrono::steady_clock::now() + options.startup_timeout;
        auto failed = [&](ProcessError code, const std::string& why) {
            try {
                stop_instance(inst, 2s);
            } catch (const std::exception&) {
            }
            instances_.take(id);
            auto tail = inst->log->tail(20);
            return Error(code, why + (tail.empty() ? "" : ". Last lines:\n" + tail));
        };

        // Until the job runs and has published its port (Slurm tells no start on the command line).
        auto pause = 100ms;
        std::string last_wait;
        for (;;) {
            if (inst->exited) break;
            auto job = job_state(inst->job_id);
            if (job) {
                {
                    std::lock_guard lock(inst->mutex);
                    job->id = std::stoull(inst->job_id);
                    job->name = name;
                    inst->job = *job;
                }
                if (job_ended(job->state)) break;
                auto comment = parse_comment(job->comment);
                if (job->state == "RUNNING" && comment && comment->port && !job->batch_host.empty()) {
                    auto endpoint = plugin_common::format_http_endpoint(node_address(job->batch_host), *comment->port);
                    // The whole record once (the GPUs given are only in the JSON).
                    try {
                        for (auto& full : all_jobs())
                            if (std::to_string(full.id) == inst->job_id) job = std::move(full);
                    } catch (const std::exception& e) {
                        host_.debug("cannot read job ", inst->job_id, " in full: ", e.what());
                    }
                    {
                        std::lock_guard lock(inst->mutex);
                        inst->job = *job;
                        handle.endpoint = endpoint;
                        handle.runner_data = runner_data(inst->job_id, *job);
                    }
                    host_.info("job ", inst->job_id, " for ", config.model_name, " runs on ", job->batch_host, " at ", endpoint);
                    asio::post(io_.context(), [this, inst, endpoint, proof] {
                        attach(inst);
                        if (auto e = plugin_common::parse_http_endpoint(endpoint))
                            asio::co_spawn(io_.context(), plugin_common::confirm_ready(*e, inst->start, proof), asio::detached);
                    });
                    break;
                }
                auto wait = describe_wait(*job);
                if (wait != last_wait) {
                    last_wait = wait;
                    host_.info("job ", inst->job_id, " for ", config.model_name, " ", wait);
                    host_.emit_status(id, "job " + inst->job_id + " " + wait);
                }
            }
            if (std::chrono::steady_clock::now() >= deadline)
                throw failed(ProcessError::StartFailed, "job " + inst->job_id + " for " + config.model_name + " did not start within " +
                                                            std::to_string(options.startup_timeout.count()) + " ms: it " + last_wait);
            std::this_thread::sleep_for(pause);
            pause = std::min<std::chrono::milliseconds>(pause * 2, 1s);
        }
        bool ended = inst->exited;
        {
            std::lock_guard lock(inst->mutex);
            ended = ended || job_ended(inst->job.state);
        }
        if (ended) {
            asio::post(io_.context(), [this, inst] { check(inst); });
            outcome.wait_for(kCommandTimeout);
        }

        auto left = deadline - std::chrono::steady_clock::now();
        auto waited = outcome.wait_for(std::max<std::chrono::steady_clock::duration>(left, 0s));
        auto result = waited == std::future_status::ready ? outcome.get() : StartOutcome{StartOutcome::Kind::TimedOut, {}};
        if (result.kind == StartOutcome::Kind::Ready) {
            host_.info("job ", inst->job_id, " for ", config.model_name, " ready at ", handle.endpoint);
            host_.emit_ready(handle);
            std::lock_guard lock(inst->mutex);
            return handle;
        }
        if (result.kind == StartOutcome::Kind::TimedOut)
            throw failed(ProcessError::StartFailed, "llama-server in job " + inst->job_id + " was not ready after " +
                                                        std::to_string(options.startup_timeout.count()) + " ms");
        inst->gone.wait_for(10s);
        instances_.take(id);
        auto code = result.exit.code.value_or(-1);
        auto tail = inst->log->tail(20);
        auto where = inst->job.batch_host.empty() ? std::string() : " on " + inst->job.batch_host;
        if (code == kScriptModelMissing)
            throw Error(ProcessError::Configuration, "model file not found or not readable" + where + ": " + config.model_path);
        if (code == kScriptBinaryMissing)
            throw Error(ProcessError::Configuration, "llama-server not found" + where + ": " + options.binary);
        if (code == kScriptWorkingDirMissing) throw Error(ProcessError::Configuration, "no directory " + options.working_dir + where);
        if (code == kScriptNoFreePort || inst->log->contains(plugin_common::kPortTakenLine))
            throw plugin_common::PortTaken("no free port" + where);
        throw Error(ProcessError::StartFailed, "job " + inst->job_id + " for " + config.model_name + " ended while starting: " +
                                                   describe_end(inst->job, result.exit) + (tail.empty() ? "" : ". Last lines:\n" + tail));
    }

    static std::string describe_end(const JobInfo& job, const ExitStatus& exit) {
        std::string text = job.state.empty() ? "gone" : job.state;
        if (!job.reason.empty() && job.reason != "None") text += " (" + job.reason + ")";
        if (!job.batch_host.empty()) text += " on " + job.batch_host;
        if (exit.code || exit.signal) text += ", the server " + exit.describe();
        return text;
    }

    // ---- I/O thread -----------------------------------------------------------------------------

    // Follows step 0's output; its end means the job is ending: check it at once.
    void attach(const std::shared_ptr<Instance>& inst) {
        if (inst->exited || stopping_ || inst->attach) return;
        inst->attach_got_line = false;
        try {
            inst->attach = ChildProcess::spawn(
                io_.context(), command("sattach"), {"--quiet", inst->job_id + ".0"}, env_,
                [this, inst](const char* stream, const std::string& line) {
                    // sattach's own complaints (--quiet leaves its errors: "Invalid job id specified"
                    // while step 0 is not there yet) are not the server's output.
                    if (line.rfind("sattach: ", 0) == 0) {
                        host_.debug("following job ", inst->job_id, ": ", line);
                        return;
                    }
                    inst->attach_failures = 0;
                    inst->attach_got_line = true;
                    inst->step_done = false;
                    // No ready checks begin here: they began when the job got its node (the line may never come).
                    plugin_common::pass_on_server_line(host_, inst->handle.instance_id, stream, line, *inst->log, inst->start.get());
                    plugin_common::settle_once_started(inst->attach.get(), inst->start.get());
                },
                [this, inst](const ExitStatus& status) {
                    inst->attach.reset();
                    // sattach ends 0 with the step; otherwise it failed or was killed. It also ends 0 at
                    // once, with no output, when it attaches in the instant srun makes the step: a
                    // follower that relayed nothing counts as failed, and the job's state decides.
                    if (status.code == 0) inst->step_done = true;
                    if (status.code != 0 || !inst->attach_got_line) ++inst->attach_failures;
                    check(inst);
                });
        } catch (const std::exception& e) {
            ++inst->attach_failures;
            host_.warn("cannot follow job ", inst->job_id, ": ", e.what());
        }
    }

    // Follows the job's output again once attach_retry_delay allows (step 0 may not be there yet).
    // Past its retries the server's lines go unfollowed; the fallback poll still watches the job.
    void attach_again(const std::shared_ptr<Instance>& inst) {
        if (inst->attach_pending || inst->attach_abandoned) return;
        auto delay = attach_retry_delay(inst->attach_failures);
        if (!delay) {
            inst->attach_abandoned = true;
            host_.warn("cannot follow the output of job ", inst->job_id, ": sattach failed ", inst->attach_failures,
                       " times in a row, its server's lines are no longer relayed (its state still is)");
            return;
        }
        inst->attach_pending = true;
        auto timer = std::make_shared<asio::steady_timer>(io_.context(), *delay);
        timer->async_wait([this, inst, timer](boost::system::error_code ec) {
            inst->attach_pending = false;
            if (!ec) attach(inst);
        });
    }

    // Asks Slurm about one instance's job now (its follower ended, or a start saw the job end).
    void check(const std::shared_ptr<Instance>& inst) {
        if (inst->exited || inst->checking || stopping_) return;
        inst->checking = true;
        refresh({inst});
    }

    // One `squeue --json` for `which`: ends those whose job ended, re-follows those still running.
    void refresh(std::vector<std::shared_ptr<Instance>> which) {
        auto output = std::make_shared<std::string>();
        try {
            ChildProcess::spawn(
                io_.context(), command("squeue"), {"--json"}, env_,
                [output](const char* stream, const std::string& line) {
                    if (std::string_view(stream) == "stdout") *output += line + "\n";
                },
                [this, output, which](const ExitStatus& status) { refreshed(which, *output, status); });
        } catch (const std::exception& e) {
            host_.warn("cannot ask Slurm for job states: ", e.what());
            for (auto& inst : which) inst->checking = false;
        }
    }

    void refreshed(const std::vector<std::shared_ptr<Instance>>& which, const std::string& output, const ExitStatus& status) {
        std::map<std::string, JobInfo> jobs;
        bool known = false;
        if (status.code == 0) {
            try {
                for (auto& job : parse_squeue_json(output)) jobs[std::to_string(job.id)] = std::move(job);
                known = true;
            } catch (const std::exception& e) {
                host_.warn("cannot read squeue --json: ", e.what());
            }
        }
        for (const auto& inst : which) {
            inst->checking = false;
            if (inst->exited || !known) continue;
            auto it = jobs.find(inst->job_id);
            if (it == jobs.end()) {
                finalize(inst, std::nullopt);  // gone from slurmctld: ended long ago
                continue;
            }
            {
                std::lock_guard lock(inst->mutex);
                inst->job = it->second;
            }
            if (job_ended(it->second.state)) {
                // A job still completing may not have its exit status yet, and its server may still run
                // (scancel's KillWait): done once the step's output ended, else ask again (10 s at most).
                if (it->second.state == "COMPLETING" && it->second.exit_code.value_or(0) == 0 && !inst->step_done &&
                    ++inst->completing_checks <= 10) {
                    recheck_soon(inst);
                    continue;
                }
                finalize(inst, it->second);
            } else if (it->second.state == "RUNNING" && !inst->attach && serving(inst)) {
                // Follow it again: after a failure, or after an end of sattach the job does not show
                // (yet): a step that did end makes the next sattach fail while the job completes.
                attach_again(inst);
            }
        }
    }

    static bool serving(const std::shared_ptr<Instance>& inst) {
        std::lock_guard lock(inst->mutex);
        return !inst->handle.endpoint.empty();
    }

    void recheck_soon(const std::shared_ptr<Instance>& inst) {
        auto timer = std::make_shared<asio::steady_timer>(io_.context(), 1s);
        timer->async_wait([this, inst, timer](boost::system::error_code ec) {
            if (!ec) check(inst);
        });
    }

    // The fallback: every poll_interval, one squeue for every instance (a lost node ends a job
    // without ending its step's output on the node).
    void schedule_poll() {
        if (stopping_) return;
        poll_timer_.expires_after(options_.poll_interval);
        poll_timer_.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping_) return;
            std::vector<std::shared_ptr<Instance>> which;
            for (auto& inst : instances_.running())
                if (!inst->checking && !inst->job_id.empty()) {
                    inst->checking = true;
                    which.push_back(inst);
                }
            if (!which.empty()) refresh(which);
            schedule_poll();
        });
    }

    void finalize(const std::shared_ptr<Instance>& inst, const std::optional<JobInfo>& job) {
        if (inst->exited) return;  // I/O thread only
        // A job still completing with status 0 has not been given its real one yet: unknown.
        const bool known = job && !(job->state == "COMPLETING" && job->exit_code.value_or(0) == 0);
        ExitStatus status = known ? exit_status_of(*job) : ExitStatus{};
        inst->exited = true;
        if (inst->start) inst->start->settle({StartOutcome::Kind::Exited, status});
        std::string message = "job " + inst->job_id + " " + (job ? describe_end(*job, status) : std::string("is gone from Slurm"));
        if (job && (job->state == "NODE_FAIL" || job->reason == "NodeDown"))
            message += ": its node was lost (a server left running there is no longer corral's)";
        host_.emit_exited(inst->handle.instance_id, status.code, status.signal, message);
        if (inst->attach) inst->attach->kill_now();
        inst->attach.reset();
        inst->gone_promise.set_value();
    }

    // ---- stop -----------------------------------------------------------------------------------

    // SIGTERM to the server (step 0) alone, so its own exit ends the job; after corral's grace, SIGKILL
    // to it and scancel for the job. (A plain scancel would leave the server to the cluster-wide
    // KillWait, and a job already completing takes no other signal.) A job without its step yet
    // (waiting, or its script still running) is cancelled at once.
    void stop_instance(const std::shared_ptr<Instance>& inst, std::chrono::milliseconds grace) {
        auto r = slurm("scancel", {"--signal=TERM", inst->job_id + ".0"});
        if (!r.ok()) r = slurm("scancel", {inst->job_id});
        if (!r.ok()) {
            if (contains(r.error_text(), "Invalid job id") || contains(r.error_text(), "already completing or completed")) {
                asio::post(io_.context(), [this, inst] { check(inst); });
                if (inst->gone.wait_for(kCommandTimeout) == std::future_status::ready)
                    throw Error(ProcessError::NotRunning, "job " + inst->job_id + " had ended");
            }
            throw Error(ProcessError::StopFailed, "cannot cancel job " + inst->job_id + ": " + r.error_text());
        }
        asio::post(io_.context(), [this, inst] { check(inst); });
        if (wait_gone(inst, grace)) return;
        host_.warn("job ", inst->job_id, "'s server did not end within ", grace.count(), " ms of SIGTERM: sending SIGKILL");
        slurm("scancel", {"--signal=KILL", inst->job_id + ".0"});
        slurm("scancel", {inst->job_id});
        if (!wait_gone(inst, kCommandTimeout)) throw Error(ProcessError::StopFailed, "job " + inst->job_id + " did not end after SIGKILL");
    }

    // Waits for the job's end, asking Slurm each second (the follower's end usually tells first).
    bool wait_gone(const std::shared_ptr<Instance>& inst, std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            auto step = std::min<std::chrono::steady_clock::duration>(1s, deadline - std::chrono::steady_clock::now());
            if (inst->gone.wait_for(std::max<std::chrono::steady_clock::duration>(step, 0s)) == std::future_status::ready) return true;
            if (std::chrono::steady_clock::now() >= deadline) return false;
            asio::post(io_.context(), [this, inst] { check(inst); });
        }
    }

    sdk::Host host_;
    SlurmOptions options_;
    std::vector<std::string> env_;  // Slurm's commands' environment
    const int64_t created_at_ms_ = plugin_common::unix_time_ms();
    std::mutex mutex_;
    std::map<std::string, std::string> node_addresses_;
    plugin_common::OncePerKey<std::string, llama::ServerFeatures> features_;
    plugin_common::InstanceTable<Instance> instances_;
    bool stopping_ = false;       // I/O thread
    plugin_common::IoThread io_;  // last but one: its thread is joined before the members it uses go
    asio::steady_timer poll_timer_;
};

}  // namespace
}  // namespace corral::slurm

CORRAL_RUNNER_PLUGIN(corral::slurm::SlurmRunner, "slurm", CORRAL_SDK_VERSION, "llama-server as batch jobs on a Slurm cluster",
                     corral::slurm::kSlurmOptionsSchema,
                     CORRAL_CAP_ADOPT | CORRAL_CAP_EXIT_EVENTS | CORRAL_CAP_LOG_EVENTS | CORRAL_CAP_SLOT_CACHE);
