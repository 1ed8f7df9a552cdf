// `corral pull` against Debian's nginx over HTTPS with a self-signed certificate (tests/support/
// nginx_server): a whole file verified and renamed into place, a pull interrupted by killing the
// server and resumed with a Range request, a wrong digest quarantined, a 404 and an untrusted
// certificate, a file-size limit hit mid-file, and hf: sources with their published digest and token.
#include "crypto/sha256.hpp"
#include "nginx_server.hpp"
#include "process.hpp"
#include "scratch_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <random>

namespace corral::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;

const std::string kCorral = CORRAL_TEST_BINARY;

// Full requests are sent at 256 KiB/s (time to interrupt one); a Range request at full speed.
const std::string kLocations = R"(
    location /slow/ {
      alias WWW/;
      set $rate 256k;
      if ($http_range) { set $rate 0; }
      limit_rate $rate;
    }
    location ~ ^/hub/org/gated/resolve/main/(.+)$ {
      if ($http_authorization != "Bearer hf_secret") { return 401; }
      add_header X-Linked-Etag '"GATED_SHA"' always;
      return 302 https://localhost:PORT/files/$1;
    }
    location ~ ^/hub/org/open/resolve/main/(.+)$ {
      add_header X-Linked-Etag '"0000000000000000000000000000000000000000000000000000000000000000"' always;
      return 302 /files/$1;
    }
    location /files/ { alias WWW/; }
)";

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(size, '\0');
    for (auto& c : s) c = static_cast<char>(gen());
    return s;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<json::object> events_of(const std::string& out) {
    std::vector<json::object> events;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty()) events.push_back(json::parse(line).as_object());
    }
    return events;
}

class Pull : public ScratchDirTest {
protected:
    Pull() : ScratchDirTest("corral-pull") {}

    void SetUp() override {
        ScratchDirTest::SetUp();
        server_ = std::make_unique<NginxServer>(dir_ / "nginx", [&](const NginxServer& s) {
            auto text = kLocations;
            replace_all(text, "WWW", s.www().string());
            replace_all(text, "PORT", std::to_string(s.port()));
            replace_all(text, "GATED_SHA", crypto::to_hex(crypto::sha256_of(gated_)));
            return text;
        });
        std::ofstream(server_->www() / "model.gguf", std::ios::binary) << model_;
        std::ofstream(server_->www() / "gated.gguf", std::ios::binary) << gated_;
        models_ = dir_ / "models";
    }

    static void replace_all(std::string& text, const std::string& from, const std::string& to) {
        for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
    }

    ProcessResult pull(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
        args.insert(args.begin(), {kCorral, "pull"});
        return run_process(args, env);
    }

    std::string sha_of_model() const { return crypto::to_hex(crypto::sha256_of(model_)); }

    const std::string model_ = random_bytes(2 << 20, 1);
    const std::string gated_ = random_bytes(300 << 10, 2);
    std::unique_ptr<NginxServer> server_;
    fs::path models_;
};

TEST_F(Pull, AWholeFileIsVerifiedWhileItComesAndRenamedIntoPlace) {
    auto r = pull({server_->url("/model.gguf"), "--sha256", sha_of_model(), "--to", models_.string(), "--cacert",
                   server_->certificate().string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(read_file(models_ / "model.gguf"), model_);
    EXPECT_FALSE(fs::exists(models_ / "model.gguf.partial"));
    EXPECT_FALSE(fs::exists(models_ / "model.gguf.partial.json"));
    auto events = events_of(r.out);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.front().at("event"), "start");
    EXPECT_EQ(events.front().at("expected_sha256").as_string(), sha_of_model());
    EXPECT_EQ(events.back().at("event"), "done");
    EXPECT_EQ(events.back().at("sha256").as_string(), sha_of_model());
    EXPECT_EQ(events.back().at("verified"), true);
    EXPECT_EQ(events.back().at("bytes").to_number<std::size_t>(), model_.size());

    // Again: nothing is fetched, the file there is checked.
    auto again = pull({server_->url("/model.gguf"), "--sha256", sha_of_model(), "--to", models_.string(), "--cacert",
                       server_->certificate().string(), "--name", "Copy"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(read_file(models_ / "Copy.gguf"), model_);  // --name: another file
    auto there = pull({server_->url("/model.gguf"), "--to", models_.string(), "--cacert", server_->certificate().string()});
    ASSERT_EQ(there.exit_code, 0) << there.err;
    EXPECT_THAT(there.err, HasSubstr("already there"));
    EXPECT_THAT(there.out, HasSubstr(sha_of_model()));
    EXPECT_THAT(there.out, HasSubstr("(not verified)"));
}

TEST_F(Pull, APullCutOffByTheServerResumesWithARangeRequest) {
    const std::vector<std::string> args = {
        kCorral,          "pull",     server_->url("/slow/model.gguf"), "--sha256", sha_of_model(), "--to",
        models_.string(), "--cacert", server_->certificate().string(),  "--json",   "--retries",    "0"};
    {
        SpawnedProcess first(args);
        for (std::string line = first.read_line();; line = first.read_line()) {
            ASSERT_FALSE(line.empty()) << "the pull ended before the server was stopped";
            auto e = json::parse(line).as_object();
            if (e.at("event") == "progress" && e.at("bytes").to_number<uint64_t>() >= (256u << 10)) break;
        }
        server_->stop_hard();
        std::string last;
        for (std::string line = first.read_line(); !line.empty(); line = first.read_line()) last = line;
        auto error = json::parse(last).as_object();
        EXPECT_EQ(error.at("event"), "error");
        EXPECT_EQ(error.at("code"), "network");
        EXPECT_THAT(std::string(error.at("error").as_string()), HasSubstr("the same pull resumes from there"));
        const int status = first.kill_and_wait(0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
    }
    EXPECT_FALSE(fs::exists(models_ / "model.gguf"));
    const auto kept = fs::file_size(models_ / "model.gguf.partial");
    EXPECT_GT(kept, 0u);
    EXPECT_LT(kept, model_.size());

    server_->start();
    auto r = run_process(args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto events = events_of(r.out);
    EXPECT_EQ(events.front().at("resumed_from").to_number<uintmax_t>(), kept);
    EXPECT_EQ(events.back().at("verified"), true);
    EXPECT_EQ(read_file(models_ / "model.gguf"), model_);
    // The second request asked for the rest only, and got it as a 206.
    EXPECT_THAT(server_->access_log(), HasSubstr("206 \"bytes=" + std::to_string(kept) + "-\" /slow/model.gguf"));
}

TEST_F(Pull, APullRetriesWhenTheServerComesBackAndResumes) {
    SpawnedProcess p({kCorral, "pull", server_->url("/slow/model.gguf"), "--sha256", sha_of_model(), "--to", models_.string(), "--cacert",
                      server_->certificate().string(), "--json", "--retries", "3"});
    for (std::string line = p.read_line();; line = p.read_line()) {
        ASSERT_FALSE(line.empty()) << "the pull ended before the server was stopped";
        if (json::parse(line).at("event") == "progress") break;
    }
    server_->stop_hard();
    server_->start();  // back before the first retry (1 s later; the next ones wait 2 and 4 s)
    std::vector<json::object> events;
    for (std::string line = p.read_line(); !line.empty(); line = p.read_line()) events.push_back(json::parse(line).as_object());
    const int status = p.kill_and_wait(0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    const auto retry = std::find_if(events.begin(), events.end(), [](const json::object& e) { return e.at("event") == "retry"; });
    ASSERT_NE(retry, events.end());
    EXPECT_EQ(retry->at("attempt"), 2);
    EXPECT_EQ(retry->at("in_seconds").to_number<double>(), 1.0);
    EXPECT_EQ(events.back().at("event"), "done");
    EXPECT_EQ(events.back().at("verified"), true);
    EXPECT_EQ(read_file(models_ / "model.gguf"), model_);
    EXPECT_THAT(server_->access_log(), HasSubstr("206 \"bytes="));
}

TEST_F(Pull, AFileWithTheWrongDigestIsQuarantinedAndBothDigestsAreSaid) {
    const std::string wrong(64, 'a');
    auto r = pull({server_->url("/model.gguf"), "--sha256", wrong, "--to", models_.string(), "--cacert", server_->certificate().string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("expected sha256 " + wrong));
    EXPECT_THAT(r.err, HasSubstr("actual sha256   " + sha_of_model()));
    EXPECT_FALSE(fs::exists(models_ / "model.gguf"));
    EXPECT_FALSE(fs::exists(models_ / "model.gguf.partial"));
    std::vector<fs::path> quarantined;
    for (const auto& e : fs::directory_iterator(models_ / "quarantine")) quarantined.push_back(e.path());
    ASSERT_EQ(quarantined.size(), 2u);  // the file and its note
    std::sort(quarantined.begin(), quarantined.end());
    EXPECT_THAT(quarantined[0].filename().string(), ::testing::EndsWith("-model.gguf"));
    EXPECT_EQ(read_file(quarantined[0]), model_);
    EXPECT_THAT(read_file(quarantined[1]), HasSubstr("actual sha256:   " + sha_of_model()));
}

TEST_F(Pull, ANotFoundAndAnUntrustedCertificateAreSaidClearlyAndLeaveNothing) {
    auto missing = pull({server_->url("/nope.gguf"), "--to", models_.string(), "--cacert", server_->certificate().string(), "--json"});
    EXPECT_EQ(missing.exit_code, 1);
    auto error = events_of(missing.out).back();
    EXPECT_EQ(error.at("code"), "not_found");
    EXPECT_THAT(std::string(error.at("error").as_string()), HasSubstr("HTTP 404 from " + server_->url("/nope.gguf")));

    auto untrusted = pull({server_->url("/model.gguf"), "--to", models_.string()});
    EXPECT_EQ(untrusted.exit_code, 1);
    EXPECT_THAT(untrusted.err, HasSubstr("TLS failed for " + server_->url("/model.gguf")));
    EXPECT_THAT(untrusted.err, HasSubstr("--cacert"));
    EXPECT_TRUE(fs::is_empty(models_));

    auto not_a_source = pull({"ftp://example.com/a.gguf"});
    EXPECT_EQ(not_a_source.exit_code, 2);
    EXPECT_THAT(not_a_source.err, HasSubstr("neither an http(s) URL nor hf:ORG/REPO/FILE.gguf"));
}

TEST_F(Pull, RunningOutOfSpaceMidFileLeavesNoFileInPlace) {
    // A file-size limit of 1 MiB for the pull (bash's ulimit -f counts KiB): writes fail with EFBIG
    // as they would with ENOSPC on a full disk.
    auto r = run_process({"/bin/bash", "-c", "ulimit -f 1024 && exec \"$@\"", "pull", kCorral, "pull", server_->url("/model.gguf"), "--to",
                          models_.string(), "--cacert", server_->certificate().string(), "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    auto error = events_of(r.out).back();
    EXPECT_EQ(error.at("code"), "no_space");
    EXPECT_THAT(std::string(error.at("error").as_string()), HasSubstr("File too large"));
    EXPECT_FALSE(fs::exists(models_ / "model.gguf"));
    EXPECT_EQ(fs::file_size(models_ / "model.gguf.partial"), 1u << 20);  // kept: the same pull resumes once there is room
}

TEST_F(Pull, NamingAPartOfASplitModelPullsEveryPart) {
    std::ofstream(server_->www() / "big-00001-of-00002.gguf", std::ios::binary) << model_;
    std::ofstream(server_->www() / "big-00002-of-00002.gguf", std::ios::binary) << gated_;
    const auto url = server_->url("/big-00002-of-00002.gguf");
    auto refused = pull({url, "--sha256", sha_of_model(), "--to", models_.string()});
    EXPECT_EQ(refused.exit_code, 2);
    EXPECT_THAT(refused.err, HasSubstr("each have their own digest"));
    auto r = pull({url, "--to", models_.string(), "--cacert", server_->certificate().string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(read_file(models_ / "big-00001-of-00002.gguf"), model_);
    EXPECT_EQ(read_file(models_ / "big-00002-of-00002.gguf"), gated_);
    int starts = 0;
    for (const auto& e : events_of(r.out)) starts += e.at("event") == "start";
    EXPECT_EQ(starts, 2);
}

TEST_F(Pull, HuggingFaceSourcesUseThePublishedDigestAndSendTheTokenToTheHubOnly) {
    const std::map<std::string, std::string> env = {{"HF_ENDPOINT", server_->url("/hub")},
                                                    {"CURL_CA_BUNDLE", server_->certificate().string()}};
    auto refused = pull({"hf:org/gated/gated.gguf", "--to", models_.string()}, env);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_THAT(refused.err, HasSubstr("HTTP 401"));
    EXPECT_THAT(refused.err, HasSubstr("set HF_TOKEN"));

    auto with_token = env;
    with_token["HF_TOKEN"] = "hf_secret";
    auto r = pull({"hf:org/gated/gated.gguf", "--to", models_.string(), "--json"}, with_token);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto done = events_of(r.out).back();
    EXPECT_EQ(done.at("verified"), true);  // against the X-Linked-Etag the hub published
    EXPECT_EQ(read_file(models_ / "gated.gguf"), gated_);
    // The redirect went to another host name (localhost): the token stayed with the hub.
    const auto log = server_->access_log();
    EXPECT_THAT(log, HasSubstr("/hub/org/gated/resolve/main/gated.gguf \"Bearer hf_secret\""));
    EXPECT_THAT(log, HasSubstr("200 \"-\" /files/gated.gguf \"-\""));

    // A repository whose published digest does not match: quarantined.
    auto mismatch = pull({"hf:org/open/model.gguf", "--to", models_.string(), "--json"}, env);
    EXPECT_EQ(mismatch.exit_code, 1);
    EXPECT_EQ(events_of(mismatch.out).back().at("code"), "digest_mismatch");
    EXPECT_FALSE(fs::exists(models_ / "model.gguf"));
}

}  // namespace
}  // namespace corral::test
