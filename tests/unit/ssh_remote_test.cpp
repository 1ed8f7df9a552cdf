// The ssh runner's quoting and remote scripts, run by a real /bin/sh on this machine exactly as the
// remote login shell would run them (no sshd needed: ssh hands the command line to `sh -c`).
#include "hostile_words.hpp"
#include "process.hpp"
#include "remote_scripts.hpp"
#include "scratch_dir.hpp"
#include "shell_quote.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace corral::ssh {

using plugin_common::shell_join;
using plugin_common::shell_quote;
namespace {

namespace fs = std::filesystem;
using test::kHostile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Runs `command` the way sshd hands it to the login shell.
// `input` is its stdin (as ssh forwards it), else there is none.
test::ProcessResult remote_sh(const std::string& command, const fs::path& cwd, const std::string& input = "") {
    return test::run_process(
        {"/bin/sh", "-c", "cd " + shell_quote(cwd.string()) + " && printf '%s' " + shell_quote(input) + " | " + command});
}

class ScratchDir : public test::ScratchDirTest {
protected:
    ScratchDir() : ScratchDirTest("corral-ssh-test") {}
    bool canary_exists() const { return fs::exists(dir_ / "CANARY"); }
};

using ShellQuote = ScratchDir;

TEST_F(ShellQuote, EveryWordReachesTheCommandUnchanged) {
    for (const auto& word : kHostile) {
        auto r = remote_sh("printf '%s|' " + shell_quote(word), dir_);
        ASSERT_EQ(r.exit_code, 0) << word << ": " << r.err;
        EXPECT_EQ(r.out, word + "|") << "quoted as " << shell_quote(word);
    }
    auto r = remote_sh("printf '%s|' " + shell_join(kHostile), dir_);
    std::string expected;
    for (const auto& w : kHostile) expected += w + "|";
    EXPECT_EQ(r.out, expected);
    EXPECT_FALSE(canary_exists()) << "a quoted word was executed";
}

TEST(ShellQuoteText, PlainWordsStayReadable) {
    EXPECT_EQ(shell_quote("llama-server"), "llama-server");
    EXPECT_EQ(shell_quote("/models/q4_k.gguf"), "/models/q4_k.gguf");
    EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
    EXPECT_EQ(shell_quote(""), "''");
    EXPECT_EQ(shell_quote("a=b"), "'a=b'");  // never an assignment
}

TEST(RemoteScripts, InstanceDirectoryNamesAreSafe) {
    EXPECT_EQ(instance_dir_name("tiny-a-3"), "tiny-a-3");
    EXPECT_EQ(instance_dir_name("../x"), "%2E.%2Fx");
    EXPECT_EQ(instance_dir_name("a b/c"), "a%20b%2Fc");
    EXPECT_EQ(instance_dir_name(""), "%");
}

TEST(RemoteScripts, ExitMarkers) {
    auto code = parse_exit_marker(std::string(kExitMarker) + "1 420");
    ASSERT_TRUE(code && code->status);
    EXPECT_EQ(code->status->code, 1);
    EXPECT_FALSE(code->status->signal);
    EXPECT_EQ(code->log_size, 420u);
    auto sig = parse_exit_marker(std::string(kExitMarker) + "137 0");
    ASSERT_TRUE(sig && sig->status);
    EXPECT_EQ(sig->status->signal, 9);
    EXPECT_FALSE(sig->status->code);
    auto unknown = parse_exit_marker(std::string(kExitMarker) + "unknown 12");
    ASSERT_TRUE(unknown);
    EXPECT_FALSE(unknown->status);
    EXPECT_FALSE(parse_exit_marker("corral-exit 0 0"));
    EXPECT_FALSE(parse_exit_marker("llama-server log line"));
}

// A stand-in for llama-server: records its arguments and environment, says it listens, sleeps.
class RemoteLifecycle : public ScratchDir {
protected:
    void SetUp() override {
        ScratchDir::SetUp();
        server_ = dir_ / "fake server";
        std::ofstream(server_) << "#!/bin/sh\n"
                                  "printf '%s\\n' \"$@\" > \"$ARGS_FILE\"\n"
                                  "printf '%s\\n' \"$SPECIAL\" > \"$ARGS_FILE.env\"\n"
                                  "echo 'main: server is listening on http://127.0.0.1:1'\n"
                                  "exec sleep 600\n";
        fs::permissions(server_, fs::perms::owner_all);
        model_ = dir_ / "model dir" / "it's $(touch CANARY); x.gguf";
        fs::create_directories(model_.parent_path());
        std::ofstream(model_) << "GGUF";
        state_ = dir_ / "state";
    }
    LaunchRequest request(const std::string& id) {
        LaunchRequest r;
        r.instance_dir = (state_ / instance_dir_name(id)).string();
        r.binary = server_.string();
        r.model_path = model_.string();
        r.env = {{"ARGS_FILE", (dir_ / "args").string()}, {"SPECIAL", "$(touch CANARY) ; `x` 'q'"}};
        r.args = {"--model", model_.string(), "--alias", "name with \"quotes\" and $(touch CANARY)", "--port", "4242"};
        r.record = "{\"instance_id\":\"" + id + "\"}";
        return r;
    }
    std::string read(const fs::path& p) {
        std::ifstream in(p);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    fs::path server_, model_, state_;
};

TEST_F(RemoteLifecycle, LaunchFollowSignalAndClean) {
    auto req = request("tiny a");
    auto launch = remote_sh(launch_command(req), dir_, launch_input(req));
    ASSERT_EQ(launch.exit_code, 0) << launch.err;
    ASSERT_THAT(launch.out, StartsWith("pid "));
    const int pid = std::stoi(launch.out.substr(4));
    ASSERT_GT(pid, 0);

    // Follow it: its first line comes once it has written what it got.
    test::SpawnedProcess attach({"/bin/sh", "-c", attach_command(req.instance_dir, 0)});
    EXPECT_EQ(attach.read_line(), "main: server is listening on http://127.0.0.1:1");

    // The server got every argument and variable verbatim, and nothing was executed on the way.
    std::string expected;
    for (const auto& a : req.args) expected += a + "\n";
    EXPECT_EQ(read(dir_ / "args"), expected);
    EXPECT_EQ(read(dir_ / "args.env"), "$(touch CANARY) ; `x` 'q'\n");
    EXPECT_FALSE(canary_exists());
    // The environment (a server's key) travels on stdin, never on a command line.
    EXPECT_EQ(launch_command(req).find("SPECIAL"), std::string::npos);
    LaunchRequest two_lines;
    two_lines.env = {{"KEY", "two\nlines"}};
    EXPECT_THROW(launch_input(two_lines), std::invalid_argument);
    // It leads its own session (a signal to its group reaches nothing else).
    EXPECT_EQ(::getsid(pid), pid);

    auto status = remote_sh(status_command(req.instance_dir), dir_);
    EXPECT_THAT(status.out, StartsWith("running " + std::to_string(pid) + " "));
    auto list = remote_sh(list_command(state_.string()), dir_);
    EXPECT_EQ(list.out, req.record + "\n");
    EXPECT_EQ(remote_sh(launch_command(req), dir_).exit_code, kLaunchAlreadyRunning);

    // TERM it: the attach session ends with the marker and the signal.
    EXPECT_EQ(remote_sh(signal_command(req.instance_dir, "TERM"), dir_).exit_code, 0);
    std::optional<RemoteExit> exit;
    for (int i = 0; i < 5 && !exit; ++i) {  // an empty line comes before the marker
        auto line = attach.read_line();
        exit = parse_exit_marker(line);
        if (!exit && !line.empty()) ADD_FAILURE() << "unexpected line " << line;
    }
    ASSERT_TRUE(exit);
    ASSERT_TRUE(exit->status);
    EXPECT_EQ(exit->status->signal, 15);
    EXPECT_EQ(exit->log_size, read(fs::path(req.instance_dir) / "log").size());

    EXPECT_EQ(remote_sh(signal_command(req.instance_dir, "TERM"), dir_).exit_code, 3);  // not running
    EXPECT_EQ(remote_sh(list_command(state_.string()), dir_).out, "");
    EXPECT_EQ(remote_sh(status_command(req.instance_dir), dir_).out, "gone 143\n");
    EXPECT_FALSE(fs::exists(req.instance_dir)) << "status cleans an ended server's directory";
    EXPECT_FALSE(canary_exists());
}

TEST_F(RemoteLifecycle, AttachAfterTheEndReportsAtOnce) {
    auto req = request("ended");
    ASSERT_EQ(remote_sh(launch_command(req), dir_, launch_input(req)).exit_code, 0);
    EXPECT_EQ(remote_sh(signal_command(req.instance_dir, "KILL"), dir_).exit_code, 0);
    // The wrapper records the status once the lock is free; the attach waits for exactly that.
    auto r = remote_sh(attach_command(req.instance_dir, 1000000), dir_);
    EXPECT_THAT(r.out, HasSubstr(std::string(kExitMarker) + "137 "));
    auto log = remote_sh(read_log_command(req.instance_dir, 0), dir_);
    EXPECT_EQ(log.out, "main: server is listening on http://127.0.0.1:1\n");
    EXPECT_EQ(remote_sh(read_log_command(req.instance_dir, 6), dir_).out, "server is listening on http://127.0.0.1:1\n");
}

TEST_F(RemoteLifecycle, ConfigurationMistakesHaveTheirOwnExitCodes) {
    auto missing_model = request("m");
    missing_model.model_path = (dir_ / "no such.gguf").string();
    auto r = remote_sh(launch_command(missing_model), dir_);
    EXPECT_EQ(r.exit_code, kLaunchModelMissing);
    EXPECT_THAT(r.err, HasSubstr("no such.gguf"));

    auto missing_binary = request("b");
    missing_binary.binary = "no-such-llama-server";
    r = remote_sh(launch_command(missing_binary), dir_);
    EXPECT_EQ(r.exit_code, kLaunchBinaryMissing);
    EXPECT_THAT(r.err, HasSubstr("no-such-llama-server"));

    auto missing_dir = request("w");
    missing_dir.working_dir = (dir_ / "nowhere").string();
    EXPECT_EQ(remote_sh(launch_command(missing_dir), dir_).exit_code, kLaunchWorkingDirMissing);

    EXPECT_EQ(remote_sh(help_command("no-such-llama-server", {}), dir_).exit_code, 127);
    EXPECT_FALSE(canary_exists());
}

// The prompt-cache disk calls on the remote host: list, remove and the launch that creates the
// cache directory, run by a real shell on names made to break one.
TEST_F(RemoteLifecycle, CacheFilesAreListedRemovedAndTheirDirectoryMadeAtLaunch) {
    const auto root = dir_ / "kv $(touch CANARY)";
    EXPECT_TRUE(remote_sh(list_files_command(root.string()), dir_).out.empty());  // missing: nothing
    auto req = request("cached");
    req.cache_dir = (root / "m'x" / "fp").string();
    auto launch = remote_sh(launch_command(req), dir_, launch_input(req));
    ASSERT_EQ(launch.exit_code, 0) << launch.err;
    EXPECT_TRUE(fs::is_directory(req.cache_dir));
    std::ofstream(fs::path(req.cache_dir) / "slot-0.a.bin") << std::string(300, 'x');
    std::ofstream(fs::path(req.cache_dir) / "slot-1.a.bin") << "y";

    auto listed = remote_sh(list_files_command(root.string()), dir_);
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    std::vector<std::string> lines;
    std::istringstream in(listed.out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    lines.push_back("garbage line");
    auto files = parse_file_list(lines);
    ASSERT_EQ(files.size(), 2u);
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    EXPECT_EQ(files[0].path, "m'x/fp/slot-0.a.bin");
    EXPECT_EQ(files[0].bytes, 300u);
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_NEAR(static_cast<double>(files[0].modified_ms), static_cast<double>(now_ms), 60'000.0);

    ASSERT_EQ(remote_sh(remove_command({(root / "m'x").string(), (root / "gone").string()}), dir_).exit_code, 0);
    EXPECT_FALSE(fs::exists(root / "m'x"));
    EXPECT_TRUE(fs::exists(root));
    remote_sh(signal_command(req.instance_dir, "KILL"), dir_);
    EXPECT_FALSE(canary_exists());
}

}  // namespace
}  // namespace corral::ssh
