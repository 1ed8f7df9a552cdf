// The slurm runner's options, sbatch arguments, comments, JSON readers and job script. The script is
// run by a real bash with stand-ins for scontrol and srun on PATH (what a node would run), so the
// quoting of hostile paths and arguments is checked by the shell itself.
#include "slurm_jobs.hpp"
#include "hostile_words.hpp"
#include "process.hpp"
#include "scratch_dir.hpp"
#include "slurm_options.hpp"

#include <corral/sdk/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corral::slurm {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

boost::json::object obj(const char* text) {
    return boost::json::parse(text).as_object();
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const sdk::JsonPathError& e) {
        return e.what();
    }
    return "no error";
}

TEST(SlurmOptions, DefaultsAndEveryField) {
    auto o = parse_runner_options(obj(R"({"slurm_conf": "/etc/slurm/x.conf", "partition": "gpu", "account": "lab", "qos": "high",
        "time_limit": "1-00:00:00", "gpus": 2, "cpus": 8, "memory": "64G", "constraint": "a100&ib", "sbatch_args": ["--exclusive"],
        "binary": "/opt/llama/bin/llama-server", "port_range": [30000, 30100], "poll_interval_ms": 2000})"),
                                  "runners.cluster.options");
    EXPECT_EQ(o.slurm_conf, "/etc/slurm/x.conf");
    EXPECT_EQ(o.partition, "gpu");
    EXPECT_EQ(o.gpus, 2u);
    EXPECT_EQ(o.cpus, 8u);
    EXPECT_EQ(o.memory, "64G");
    EXPECT_EQ(o.port_first, 30000);
    EXPECT_EQ(o.port_last, 30100);
    EXPECT_EQ(o.poll_interval, std::chrono::milliseconds(2000));
    EXPECT_EQ(o.job_name_prefix, "corral-");
    EXPECT_EQ(parse_runner_options({}, "o").working_dir, "/tmp");
}

TEST(SlurmOptions, MistakesNameTheirPath) {
    const std::string p = "runners.cluster.options";
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"partiton": "gpu"})"), p); }),
                HasSubstr("runners.cluster.options.partiton: unknown slurm option"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"memory": "lots"})"), p); }), HasSubstr(p + ".memory"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"memory": "16GB"})"), p); }), HasSubstr(p + ".memory"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"time_limit": "soon"})"), p); }), HasSubstr(p + ".time_limit"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"partition": "-w c1"})"), p); }), HasSubstr(p + ".partition"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"account": "a b"})"), p); }), HasSubstr(p + ".account"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"qos": "x\ny"})"), p); }), HasSubstr(p + ".qos"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"cpus": 0})"), p); }), HasSubstr(p + ".cpus"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"port_range": [40000, 30000]})"), p); }), HasSubstr(p + ".port_range"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"job_name_prefix": "a b"})"), p); }), HasSubstr(p + ".job_name_prefix"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"env": {"SLURM_JOB_ID": "1"}})"), p); }), HasSubstr(p + ".env.SLURM_JOB_ID"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"env": {"A-B": "1"}})"), p); }), HasSubstr(p + ".env.A-B"));
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"sbatch_args": ["--exclusive", "--requeue"]})"), p); }),
                HasSubstr(p + ".sbatch_args[1]: --requeue is not allowed"));
    // A model may not change how the cluster is reached.
    EXPECT_THAT(error_of([&] { parse_model_options({}, obj(R"({"slurm_conf": "/x"})"), "models.m.runner_options"); }),
                HasSubstr("models.m.runner_options.slurm_conf: unknown per-model slurm option"));
}

TEST(SlurmOptions, APromptCacheDirectoryIsTheRunnersAndAbsolute) {
    EXPECT_EQ(parse_runner_options(obj(R"({"slot_cache_dir": "/shared/corral//kv/"})"), "o").slot_cache_dir, "/shared/corral/kv");
    EXPECT_EQ(parse_runner_options({}, "o").slot_cache_dir, "");
    EXPECT_THAT(error_of([&] { parse_runner_options(obj(R"({"slot_cache_dir": "kv"})"), "o"); }),
                HasSubstr("o.slot_cache_dir: expected an absolute"));
    EXPECT_THAT(error_of([&] { parse_model_options({}, obj(R"({"slot_cache_dir": "/x"})"), "m"); }),
                HasSubstr("m.slot_cache_dir: unknown per-model slurm option"));
    JobScript script;
    script.binary = "llama-server";
    script.model_path = "/m.gguf";
    script.working_dir = "/tmp";
    script.cache_dir = "/shared/kv/it's";
    EXPECT_THAT(job_script(script), HasSubstr("mkdir -p -- '/shared/kv/it'\\''s' 2>/dev/null\n"));
    script.cache_dir.clear();
    EXPECT_THAT(job_script(script), Not(HasSubstr("mkdir")));
}

TEST(SlurmOptions, ModelsOverrideAndAppend) {
    auto base = parse_runner_options(obj(R"({"partition": "cpu", "sbatch_args": ["--exclusive"], "env": {"A": "1"}})"), "o");
    auto m = parse_model_options(base, obj(R"({"partition": "gpu", "gpus": 1, "sbatch_args": ["--nodelist=c2"], "env": {"B": "2"}})"), "r");
    EXPECT_EQ(m.partition, "gpu");
    EXPECT_EQ(m.gpus, 1u);
    EXPECT_THAT(m.sbatch_args, ElementsAre("--exclusive", "--nodelist=c2"));
    EXPECT_EQ(m.env.size(), 2u);
}

TEST(SlurmOptions, SbatchArgumentsThatWouldBreakTheRunnerAreRefused) {
    for (const char* ok : {"--exclusive", "--nodelist=c1", "--exclude=c3", "--reservation=maint", "--signal=B:USR1@60", "--nice=10"})
        EXPECT_EQ(sbatch_arg_problem(ok), "") << ok;
    for (const char* bad :
         {"--requeue", "--array=1-4", "--ntasks=2", "--nodes=2", "--job-name=x", "--comment=x", "--output=/tmp/x", "--export=NONE",
          "--wrap=sleep", "--hold", "--uid=0", "--chdir=/", "--gres=gpu:8", "--time=5", "-p", "-w c1", "c1", "--", "--x\ny"})
        EXPECT_NE(sbatch_arg_problem(bad), "") << bad;
}

TEST(SlurmJobs, SbatchArgumentsCarryNoRequeueAndTheResources) {
    auto o = parse_runner_options(obj(R"({"partition": "gpu", "gpus": 1, "cpus": 4, "memory": "8G", "time_limit": "2:00:00",
        "constraint": "a100", "sbatch_args": ["--exclusive"], "working_dir": "/scratch"})"),
                                  "o");
    auto a = sbatch_arguments(o, "corral-m-1", "corral;instance=m-1");
    for (const char* want : {"--parsable", "--no-requeue", "--job-name=corral-m-1", "--comment=corral;instance=m-1", "--output=/dev/null",
                             "--nodes=1", "--ntasks=1", "--chdir=/scratch", "--partition=gpu", "--gres=gpu:1", "--cpus-per-task=4",
                             "--mem=8G", "--time=2:00:00", "--constraint=a100", "--exclusive"})
        EXPECT_THAT(a, Contains(std::string(want)));
    EXPECT_EQ(a.back(), "--exclusive");  // the user's come last
}

TEST(SlurmJobs, NamesAndCommentsSurviveHostileText) {
    EXPECT_EQ(job_name("corral-", "chat#1"), "corral-chat_1");
    EXPECT_EQ(job_name("x.", "a b/c"), "x.a_b_c");
    for (const auto& word : test::kHostile) {
        JobComment c{"id " + word, word, 1700000000123, std::nullopt};
        auto text = format_comment(c);
        EXPECT_EQ(text.find_first_of(" \n\t|'\"$`"), std::string::npos) << text;
        auto back = parse_comment(text);
        ASSERT_TRUE(back) << text;
        EXPECT_EQ(back->instance_id, c.instance_id);
        EXPECT_EQ(back->model_name, word);
        EXPECT_EQ(back->started_at_ms, 1700000000123);
        EXPECT_FALSE(back->port);
        auto published = parse_comment(text + ";port=41234");
        ASSERT_TRUE(published);
        EXPECT_EQ(published->port, 41234);
    }
    EXPECT_FALSE(parse_comment("someone else's job"));
    EXPECT_FALSE(parse_comment("corral;model=x"));  // no instance
    EXPECT_FALSE(parse_comment("corral;instance=x;port=70000"));
    EXPECT_FALSE(parse_comment("corral;instance=%G1"));
    EXPECT_FALSE(parse_comment("corral;instance=x;started=soon"));
}

// Slurm 22.05 (openapi v0.0.38), as seen on the test cluster: exit_code is the raw wait status.
constexpr const char* kSqueue2205 = R"json({"meta": {}, "errors": [], "jobs": [
  {"job_id": 7, "name": "corral-a", "job_state": "RUNNING", "state_reason": "None", "batch_host": "c2", "nodes": "c2",
   "comment": "corral;instance=a;model=m;started=5;port=4000", "exit_code": 0, "gres_detail": ["gpu:fake:1(IDX:0)"], "restart_cnt": 0},
  {"job_id": 8, "name": "corral-b", "job_state": "PENDING", "state_reason": "Resources", "batch_host": "", "nodes": "",
   "comment": "corral;instance=b;model=m;started=5", "exit_code": 0, "gres_detail": [], "restart_cnt": 0},
  {"job_id": 9, "name": "x", "job_state": "FAILED", "state_reason": "JobLaunchFailure", "exit_code": 9},
  {"name": "no id"}
]})json";

// Later Slurm: states as flag arrays, numbers as {set, number}, exit codes as objects.
constexpr const char* kSqueueNewer = R"({"jobs": [
  {"job_id": 11, "name": "corral-c", "job_state": ["RUNNING"], "state_reason": "None", "batch_host": "n1",
   "comment": "corral;instance=c", "exit_code": {"status": ["SUCCESS"], "return_code": {"set": true, "number": 0}}},
  {"job_id": {"set": true, "number": 12}, "name": "corral-d", "job_state": ["FAILED"],
   "exit_code": {"status": ["SIGNALED"], "return_code": {"set": true, "number": 0}, "signal": {"id": {"set": true, "number": 9}, "name": "KILL"}}},
  {"job_id": 13, "job_state": ["FAILED"], "exit_code": {"status": ["FAILED"], "return_code": {"set": true, "number": 3}}}
]})";

TEST(SlurmJobs, ReadsSqueueJsonOfBothGenerations) {
    auto jobs = parse_squeue_json(kSqueue2205);
    ASSERT_EQ(jobs.size(), 3u);
    EXPECT_EQ(jobs[0].id, 7u);
    EXPECT_EQ(jobs[0].state, "RUNNING");
    EXPECT_EQ(jobs[0].batch_host, "c2");
    EXPECT_EQ(gpu_indexes(jobs[0]), "0");
    EXPECT_EQ(parse_comment(jobs[0].comment)->port, 4000);
    EXPECT_TRUE(job_waiting(jobs[1].state));
    EXPECT_EQ(jobs[1].reason, "Resources");
    EXPECT_TRUE(job_ended(jobs[2].state));
    EXPECT_EQ(exit_status_of(jobs[2]).signal, 9);

    auto newer = parse_squeue_json(kSqueueNewer);
    ASSERT_EQ(newer.size(), 3u);
    EXPECT_EQ(newer[0].state, "RUNNING");
    EXPECT_EQ(exit_status_of(newer[0]).code, 0);
    EXPECT_EQ(newer[1].id, 12u);
    EXPECT_EQ(exit_status_of(newer[1]).signal, 9);
    EXPECT_EQ(exit_status_of(newer[2]).code, 3);

    EXPECT_THROW(parse_squeue_json("squeue: error: Invalid job id"), std::runtime_error);
    EXPECT_THROW(parse_squeue_json(R"({"errors": []})"), std::runtime_error);
}

TEST(SlurmJobs, ReadsSqueuesOneLineFormat) {
    auto job = parse_squeue_line("RUNNING|None|c2|corral;instance=a%7Cb;model=m;started=5;port=4000");
    ASSERT_TRUE(job);
    EXPECT_EQ(job->state, "RUNNING");
    EXPECT_EQ(job->reason, "None");
    EXPECT_EQ(job->batch_host, "c2");
    auto comment = parse_comment(job->comment);
    ASSERT_TRUE(comment);
    EXPECT_EQ(comment->instance_id, "a|b");
    EXPECT_EQ(comment->port, 4000);
    auto pending = parse_squeue_line("PENDING|Resources||");
    ASSERT_TRUE(pending);
    EXPECT_TRUE(job_waiting(pending->state));
    EXPECT_EQ(pending->batch_host, "");
    EXPECT_EQ(pending->comment, "");
    EXPECT_FALSE(parse_squeue_line("slurm_load_jobs error: Invalid job id specified"));
    EXPECT_FALSE(parse_squeue_line("RUNNING|None"));
}

TEST(SlurmJobs, ExitStatusesFromRawWaitStatuses) {
    auto status = [](int64_t raw) {
        JobInfo j;
        j.exit_code = raw;
        return exit_status_of(j);
    };
    EXPECT_EQ(status(0).code, 0);
    EXPECT_EQ(status(768).code, 3);          // exit 3
    EXPECT_EQ(status(9).signal, 9);          // the step killed by SIGKILL
    EXPECT_EQ(status(143 << 8).signal, 15);  // srun's 128 + SIGTERM after scancel
    EXPECT_FALSE(exit_status_of(JobInfo{}).code);
    EXPECT_TRUE(job_ended("COMPLETING"));
    EXPECT_TRUE(job_ended("NODE_FAIL"));
    EXPECT_FALSE(job_ended("RUNNING"));
    EXPECT_FALSE(job_ended("PENDING"));
}

// sattach fails at once until srun has made step 0 (seconds on a loaded node, after the port is
// published): it is tried again with a backoff for 30 s of waits, then left to the state poll.
TEST(SlurmJobs, FollowingTheOutputIsRetriedWithABackoffForThirtySeconds) {
    using std::chrono::milliseconds;
    EXPECT_EQ(attach_retry_delay(0), milliseconds(0));
    EXPECT_EQ(attach_retry_delay(1), milliseconds(100));
    EXPECT_EQ(attach_retry_delay(2), milliseconds(200));
    EXPECT_EQ(attach_retry_delay(4), milliseconds(800));
    EXPECT_EQ(attach_retry_delay(5), milliseconds(1000));
    EXPECT_EQ(attach_retry_delay(20), milliseconds(1000));
    milliseconds waited(0);
    int retries = 0;
    for (int failures = 1; auto delay = attach_retry_delay(failures); ++failures) {
        waited += *delay;
        ++retries;
        ASSERT_LT(retries, 1000) << "never gives up";
    }
    EXPECT_LE(waited, kAttachRetryWindow);
    EXPECT_GT(waited, kAttachRetryWindow - milliseconds(1000));
    EXPECT_EQ(retries, 32);
    EXPECT_FALSE(attach_retry_delay(retries + 1));
    EXPECT_FALSE(attach_retry_delay(1000));
}

TEST(SlurmJobs, NodeAddressesFromSinfo) {
    auto a = parse_node_addresses(R"({"nodes": [{"name": "c1", "address": "10.0.0.1", "hostname": "c1.lan"},
                                                {"name": "c2", "hostname": "c2.lan"}, {"address": "x"}]})");
    EXPECT_EQ(a.at("c1"), "10.0.0.1");
    EXPECT_EQ(a.at("c2"), "c2.lan");
    EXPECT_EQ(a.size(), 2u);
}

// The job script on a "node": bash with scontrol and srun stand-ins that record what they were given.
class JobScriptRun : public test::ScratchDirTest {
protected:
    JobScriptRun() : ScratchDirTest("corral-slurm-test") {}
    void SetUp() override {
        ScratchDirTest::SetUp();
        fs::create_directories(dir_ / "bin");
        write_tool("scontrol", "printf '%s\\n' \"$@\" > \"$RECORD/scontrol\"\n");
        write_tool("srun", "printf '%s\\n' \"$@\" > \"$RECORD/srun\"\n");
        write_tool("llama-server", "exit 0\n");
    }
    void write_tool(const std::string& name, const std::string& body) {
        auto path = dir_ / "bin" / name;
        std::ofstream(path) << "#!/bin/sh\n" << body;
        fs::permissions(path, fs::perms::owner_all);
    }

    test::ProcessResult run(const JobScript& s) {
        auto file = dir_ / "job.sh";
        std::ofstream(file) << job_script(s);
        return test::run_process({"/bin/bash", file.string()}, {{"PATH", (dir_ / "bin").string() + ":/usr/bin:/bin"},
                                                                {"RECORD", dir_.string()},
                                                                {"SLURM_JOB_ID", "42"},
                                                                {"SLURMD_NODENAME", "c7"},
                                                                {"SLURM_CPUS_ON_NODE", "3"}});
    }

    std::vector<std::string> lines(const std::string& name) {
        std::ifstream in(dir_ / name);
        std::vector<std::string> out;
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }

    JobScript script() {
        JobScript s;
        s.binary = "llama-server";
        s.model_path = (dir_ / "model.gguf").string();
        std::ofstream(s.model_path) << "GGUF";
        s.working_dir = dir_.string();
        s.args = {"--model", s.model_path, "--port", kPortPlaceholder, "--alias", "m"};
        s.port_first = 45000;
        s.port_last = 45009;
        s.comment = {"m-1", "m", 5, std::nullopt};
        return s;
    }
};

TEST_F(JobScriptRun, PublishesAFreePortAndRunsTheServerAsStepZero) {
    auto r = run(script());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto scontrol = lines("scontrol");
    ASSERT_EQ(scontrol.size(), 3u);
    EXPECT_EQ(scontrol[0], "update");
    EXPECT_EQ(scontrol[1], "JobId=42");
    ASSERT_THAT(scontrol[2], StartsWith("Comment=corral;instance=m-1;model=m;started=5;port="));
    auto comment = parse_comment(scontrol[2].substr(8));
    ASSERT_TRUE(comment && comment->port);
    EXPECT_EQ(*comment->port, 45002) << "job 42's place in 45000-45009";
    EXPECT_THAT(lines("srun"),
                ElementsAre("--unbuffered", "--nodes=1", "--ntasks=1", "--cpus-per-task=3", "--kill-on-bad-exit=1", "--", "llama-server",
                            "--model", (dir_ / "model.gguf").string(), "--port", std::to_string(*comment->port), "--alias", "m"));
}

TEST_F(JobScriptRun, HostileWordsReachTheServerIntact) {
    auto s = script();
    for (const auto& word : test::kHostile) s.args.push_back(word);
    s.comment.model_name = "it's $(touch CANARY)";
    auto r = run(s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto srun = lines("srun");
    // Each hostile word arrives as one argument (words with newlines span lines in the record).
    std::string all;
    for (const auto& l : srun) all += l + "\n";
    for (const auto& word : test::kHostile)
        if (!word.empty()) {
            EXPECT_THAT(all, HasSubstr(word + "\n")) << word;
        }
    EXPECT_FALSE(fs::exists(dir_ / "CANARY"));
}

TEST_F(JobScriptRun, MissingModelBinaryOrDirectoryAreItsOwnExitCodes) {
    auto s = script();
    s.model_path = (dir_ / "no model $(touch CANARY).gguf").string();
    auto r = run(s);
    EXPECT_EQ(r.exit_code, kScriptModelMissing);
    EXPECT_THAT(r.err, HasSubstr("not found or not readable on c7"));
    s = script();
    s.binary = "/nonexistent/llama-server";
    EXPECT_EQ(run(s).exit_code, kScriptBinaryMissing);
    s = script();
    s.working_dir = "/nonexistent";
    EXPECT_EQ(run(s).exit_code, kScriptWorkingDirMissing);
    EXPECT_FALSE(fs::exists(dir_ / "CANARY"));
    EXPECT_FALSE(fs::exists(dir_ / "srun"));
}

}  // namespace
}  // namespace corral::slurm
