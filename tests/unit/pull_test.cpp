// corral pull's decisions without I/O: sources, names, published digests, retries, space,
// quarantine names, Content-Range, rates, events and how the CLI shows them; SHA-256 itself.
#include "pull/pull.hpp"
#include "cli/pull_progress.hpp"
#include "crypto/sha256.hpp"
#include "pull/pull_events.hpp"
#include "pull/pull_source.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <sstream>

#include <unistd.h>

#include <algorithm>
#include <stop_token>

namespace corral::pull {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

TEST(PullSource, UrlsKeepTheirTextAndNameTheirLastSegment) {
    auto s = parse_pull_source("https://example.com/models/Tiny%20Model.gguf?download=true#x");
    EXPECT_EQ(s.url, "https://example.com/models/Tiny%20Model.gguf?download=true#x");
    EXPECT_EQ(s.file_name, "Tiny Model.gguf");
    EXPECT_FALSE(s.hugging_face);
    EXPECT_EQ(parse_pull_source("HTTP://host:8080/a.gguf").file_name, "a.gguf");
    EXPECT_EQ(parse_pull_source("http://host").file_name, "");
}

TEST(PullSource, HuggingFaceSourcesBecomeResolveUrls) {
    auto s = parse_pull_source("hf:ggml-org/models/tinyllamas/stories260K.gguf");
    EXPECT_TRUE(s.hugging_face);
    EXPECT_EQ(s.repo, "ggml-org/models");
    EXPECT_EQ(s.revision, "main");
    EXPECT_EQ(s.file_name, "stories260K.gguf");
    EXPECT_EQ(s.url, "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf");
    auto pinned = parse_pull_source("hf:org/repo/a b.gguf@refs/pr/1", "https://mirror.example/hub/");
    EXPECT_EQ(pinned.revision, "refs/pr/1");
    EXPECT_EQ(pinned.url, "https://mirror.example/hub/org/repo/resolve/refs%2Fpr%2F1/a%20b.gguf");
}

TEST(PullSource, BadSourcesSayWhatIsExpected) {
    for (auto bad : {"ftp://x/a.gguf", "model.gguf", "hf:org/repo", "hf:org//a.gguf", "hf:org/repo/../a.gguf", "hf:org/repo/a.gguf@",
                     "https://a b/c.gguf", "https:///a.gguf"}) {
        EXPECT_THROW(parse_pull_source(bad), SourceError) << bad;
    }
    try {
        parse_pull_source("hf:org/repo");
    } catch (const SourceError& e) {
        EXPECT_THAT(e.what(), HasSubstr("hf:ORG/REPO/FILE.gguf[@REVISION]"));
    }
    EXPECT_THROW(parse_pull_source("https://e.com/a%2"), SourceError);
    EXPECT_THROW(parse_pull_source("https://e.com/a%zz"), SourceError);
    EXPECT_EQ(parse_pull_source("https://e.com/x/a%2Fb%41").file_name, "a/bA");
}

TEST(PullSource, TheSavedNameIsAPlainGgufFileName) {
    auto s = parse_pull_source("https://example.com/dl?id=3");
    EXPECT_THROW(target_file_name(s, std::nullopt), SourceError);  // no .gguf name: --name is needed
    EXPECT_EQ(target_file_name(s, std::string("Qwen3")), "Qwen3.gguf");
    EXPECT_EQ(target_file_name(s, std::string("q.GGUF")), "q.GGUF");
    EXPECT_EQ(target_file_name(parse_pull_source("https://e.com/x/m.gguf"), std::nullopt), "m.gguf");
    for (auto bad : {"../x", "a/b", ".hidden", ""}) EXPECT_THROW(target_file_name(s, std::string(bad)), SourceError) << bad;
    EXPECT_THROW(target_file_name(parse_pull_source("https://e.com/x/%2E%2E%2Fm.gguf"), std::nullopt), SourceError);
}

TEST(PullSource, APartOfASplitModelPullsEveryPart) {
    auto url = parse_pull_source("https://e.com/m/Big%20Model-00002-of-00003.gguf?download=1");
    auto parts = files_to_pull(url, target_file_name(url, std::nullopt));
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0].source.url, "https://e.com/m/Big%20Model-00001-of-00003.gguf?download=1");
    EXPECT_EQ(parts[0].file_name, "Big Model-00001-of-00003.gguf");
    EXPECT_EQ(parts[2].source.url, "https://e.com/m/Big%20Model-00003-of-00003.gguf?download=1");
    EXPECT_EQ(parts[2].file_name, "Big Model-00003-of-00003.gguf");
    // --name keeps the part numbers (llama.cpp finds the other parts by them).
    auto named = files_to_pull(url, target_file_name(url, std::string("mine")));
    ASSERT_EQ(named.size(), 3u);
    EXPECT_EQ(named[1].file_name, "mine-00002-of-00003.gguf");
    auto hf = parse_pull_source("hf:org/repo/q4/m-00001-of-00002.gguf@v1");
    auto hf_parts = files_to_pull(hf, target_file_name(hf, std::nullopt));
    ASSERT_EQ(hf_parts.size(), 2u);
    EXPECT_EQ(hf_parts[1].source.url, "https://huggingface.co/org/repo/resolve/v1/q4/m-00002-of-00002.gguf");
    EXPECT_EQ(hf_parts[1].source.text, "hf:org/repo/q4/m-00002-of-00002.gguf@v1");
    auto one = parse_pull_source("https://e.com/m/plain.gguf");
    EXPECT_EQ(files_to_pull(one, "plain.gguf").size(), 1u);
}

TEST(PullSource, ThePublishedDigestIsALinkedEtagOfSixtyFourHexDigits) {
    const std::string sha(64, 'A');
    EXPECT_EQ(published_sha256({{"x-linked-etag", "\"" + sha + "\""}, {"etag", "\"abc\""}}), std::string(64, 'a'));
    EXPECT_EQ(published_sha256({{"etag", "W/\"" + std::string(64, 'b') + "\""}}), std::string(64, 'b'));
    EXPECT_EQ(published_sha256({{"etag", "\"" + std::string(40, 'c') + "\""}}), std::nullopt);  // a git blob's SHA-1
    EXPECT_EQ(published_sha256({}), std::nullopt);
}

TEST(PullDecisions, OnlyTransientFailuresAreRetriedWithBackoff) {
    EXPECT_TRUE(is_transient("network", 0));
    EXPECT_TRUE(is_transient("timeout", 0));
    EXPECT_TRUE(is_transient("http_error", 503));
    EXPECT_TRUE(is_transient("http_error", 429));
    EXPECT_FALSE(is_transient("http_error", 400));
    for (auto code : {"not_found", "unauthorized", "tls", "no_space", "io", "digest_mismatch", "cancelled"})
        EXPECT_FALSE(is_transient(code, 0));
    EXPECT_EQ(backoff_seconds(2), 1);
    EXPECT_EQ(backoff_seconds(3), 2);
    EXPECT_EQ(backoff_seconds(4), 4);
    EXPECT_EQ(backoff_seconds(40), 30);
}

TEST(PullDecisions, SpaceQuarantineAndRanges) {
    EXPECT_EQ(space_shortfall(1 << 20, 1 << 30, "/m"), "");
    EXPECT_THAT(space_shortfall(1u << 30, 100u << 20, "/m"), HasSubstr("needs 1.0 GiB more but /m has 100.0 MiB free"));
    EXPECT_NE(space_shortfall(100, 100, "/m"), "");                     // a margin is kept
    const auto t = std::chrono::system_clock::from_time_t(1764756000);  // 2025-12-03 10:00:00 UTC
    EXPECT_EQ(quarantine_path("/m", "a.gguf", t), std::filesystem::path("/m/quarantine/20251203T100000Z-a.gguf"));
    EXPECT_EQ(content_range_start("bytes 100-199/200"), 100u);
    EXPECT_EQ(content_range_total("bytes 100-199/200"), 200u);
    EXPECT_EQ(content_range_total("bytes */4096"), 4096u);
    EXPECT_EQ(content_range_start("items 1-2/3"), std::nullopt);
    EXPECT_EQ(content_range_total("bytes 0-1/*"), std::nullopt);
}

// A pull stopped while it waits to retry ends at once as "cancelled" (nothing listens on the port:
// each attempt fails at once and would be retried after 1, 2 and 4 s).
TEST(PullDecisions, AStopEndsThePullDuringItsBackoff) {
    const auto dir = std::filesystem::temp_directory_path() / ("corral-pull-stop-" + std::to_string(::getpid()));
    PullOptions o;
    o.source = parse_pull_source("http://127.0.0.1:1/m.gguf");
    o.file_name = "m.gguf";
    o.dir = dir;
    o.retries = 3;
    std::stop_source stop;
    o.stop = stop.get_token();
    std::vector<PullEvent> events;
    o.on_event = [&](const PullEvent& e) {
        events.push_back(e);
        if (e.kind == PullEvent::Kind::Retry) stop.request_stop();  // as DELETE /corral/pulls/ID would
    };
    const auto end = run_pull(o);
    EXPECT_EQ(end.kind, PullEvent::Kind::Error);
    EXPECT_EQ(end.code, "cancelled") << end.error;
    EXPECT_EQ(std::count_if(events.begin(), events.end(), [](const PullEvent& e) { return e.kind == PullEvent::Kind::Retry; }), 1);
    EXPECT_FALSE(std::filesystem::exists(dir / "m.gguf.partial"));  // nothing came: nothing is left
    std::filesystem::remove_all(dir);

    // Stopped before it starts: no attempt is retried.
    std::stop_source early;
    early.request_stop();
    o.stop = early.get_token();
    events.clear();
    EXPECT_EQ(run_pull(o).code, "cancelled");
    std::filesystem::remove_all(dir);
}

TEST(PullEvents, RatesAndEtasComeFromTheLastSeconds) {
    RateMeter meter(5s);
    const std::chrono::steady_clock::time_point t0{};
    EXPECT_EQ(meter.bytes_per_second(), 0);
    meter.sample(t0, 0);
    meter.sample(t0 + 1s, 1000);
    EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 1000);
    meter.sample(t0 + 10s, 1000);  // a stall: the old samples leave the window
    meter.sample(t0 + 11s, 1100);
    EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 100);
    EXPECT_EQ(eta_seconds(100, 1100, 100), 10);
    EXPECT_EQ(eta_seconds(100, std::nullopt, 100), std::nullopt);
    EXPECT_EQ(eta_seconds(100, 1100, 0), std::nullopt);
}

TEST(PullEvents, EachKindCarriesItsFields) {
    PullEvent e;
    e.kind = PullEvent::Kind::Progress;
    e.bytes = 10;
    e.total = 100;
    e.bytes_per_second = 5.4;
    e.eta_seconds = 17.6;
    EXPECT_EQ(boost::json::serialize(to_json(e)), R"({"event":"progress","bytes":10,"total":100,"bytes_per_second":5,"eta_seconds":18})");
    e.kind = PullEvent::Kind::Error;
    e.code = "digest_mismatch";
    e.error = "no";
    e.path = "/m/a.gguf";
    e.sha256 = "aa";
    e.expected_sha256 = "bb";
    e.quarantined = "/m/quarantine/x";
    auto o = to_json(e);
    EXPECT_EQ(o.at("code"), "digest_mismatch");
    EXPECT_EQ(o.at("quarantined"), "/m/quarantine/x");
    EXPECT_EQ(o.at("expected_sha256"), "bb");
    EXPECT_FALSE(o.contains("eta_seconds"));
}

TEST(Sha256, KnownVectorsAllAtOnceAndInPieces) {
    EXPECT_EQ(crypto::to_hex(crypto::sha256_of("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    crypto::Sha256 h;
    h.update("a");
    h.update("bc");
    EXPECT_EQ(crypto::to_hex(h.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(crypto::to_hex(h.finish()), crypto::to_hex(crypto::sha256_of("")));  // starts over
    EXPECT_EQ(crypto::normalized_sha256_hex(std::string(64, 'F')), std::string(64, 'f'));
    EXPECT_EQ(crypto::normalized_sha256_hex(std::string(63, 'f')), std::nullopt);
    EXPECT_EQ(crypto::normalized_sha256_hex(std::string(63, 'f') + "g"), std::nullopt);
}

TEST(PullProgressView, ABarOnATerminalLinesOtherwiseJsonOnRequest) {
    PullEvent e;
    e.kind = PullEvent::Kind::Progress;
    e.bytes = 512 << 10;
    e.total = 1 << 20;
    e.bytes_per_second = 256 << 10;
    e.eta_seconds = 2;
    EXPECT_EQ(cli::progress_bar(e, 10), "[=====>    ]  50%  512.0 KiB / 1.0 MiB  256.0 KiB/s  ETA 2s");
    EXPECT_EQ(cli::format_eta(3725), "1h02m");
    EXPECT_EQ(cli::format_eta(65), "1m05s");

    std::ostringstream out, err;
    cli::PullProgress lines(cli::PullProgress::Style::Lines, out, err, "m.gguf");
    const std::chrono::steady_clock::time_point t0{};
    lines.show(e, t0);
    lines.show(e, t0 + 1s);  // same 10% step, under 10 s: no new line
    e.bytes = 600 << 10;
    lines.show(e, t0 + 2s);  // 58%: still the 50% step
    e.bytes = 700 << 10;
    lines.show(e, t0 + 3s);  // 68%: a new step
    EXPECT_EQ(err.str(),
              "m.gguf:  50%  512.0 KiB / 1.0 MiB  256.0 KiB/s  ETA 2s\nm.gguf:  68%  700.0 KiB / 1.0 MiB  256.0 KiB/s  ETA 2s\n");
    EXPECT_EQ(out.str(), "");

    std::ostringstream jout, jerr;
    cli::PullProgress json(cli::PullProgress::Style::Json, jout, jerr, "m.gguf");
    json.show(e, t0);
    EXPECT_THAT(jout.str(), HasSubstr("\"event\":\"progress\""));
    EXPECT_EQ(jerr.str(), "");
}

}  // namespace
}  // namespace corral::pull
