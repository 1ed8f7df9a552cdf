// Saved prompt caches on disk: names llama-server accepts, the newest per slot, the disk budget and
// the caches no configured model can use.
#include "state/slot_cache_files.hpp"
#include "stored_files.hpp"

#include <corral/sdk/error.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <fstream>

namespace corral::state {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SlotCacheFilesTest : public ::testing::Test {
protected:
    ~SlotCacheFilesTest() override { fs::remove_all(state_); }

    // A file of `bytes` bytes, last used `age` ago.
    fs::path write(const fs::path& dir, const std::string& name, std::size_t bytes, std::chrono::seconds age) {
        fs::create_directories(dir);
        std::ofstream(dir / name) << std::string(bytes, 'x');
        fs::last_write_time(dir / name, fs::file_time_type::clock::now() - age);
        return dir / name;
    }

    fs::path dir_of(std::string_view model, std::string_view fingerprint) const { return files_.directory(model, fingerprint); }

    fs::path state_ = fs::temp_directory_path() / ("corral-slot-cache-test-" + std::to_string(::getpid()));
    SlotCacheFiles files_{state_};
};

TEST_F(SlotCacheFilesTest, NamesAreSafeForLlamaServerAndSayTheirSlot) {
    const auto name = SlotCacheFiles::file_name(3, "org/m:q4 x.0123abcd.4242-7");
    EXPECT_EQ(name, "slot-3.4242-7.bin");
    EXPECT_EQ(SlotCacheFiles::slot_of(name), 3);
    EXPECT_EQ(SlotCacheFiles::slot_of("slot-12.x.bin"), 12);
    EXPECT_FALSE(SlotCacheFiles::slot_of("slot-.x.bin"));
    EXPECT_FALSE(SlotCacheFiles::slot_of("slot-1.bin.part"));
    EXPECT_FALSE(SlotCacheFiles::slot_of("other-1.x.bin"));
    // A model name with '/' and ':' is one directory under kv-cache, its fingerprint another.
    const auto dir = dir_of("org/m:q4", "0123abcd");
    EXPECT_EQ(dir.parent_path().parent_path(), state_ / "kv-cache");
    EXPECT_EQ(dir.parent_path().filename(), "org%2Fm%3Aq4");
    EXPECT_EQ(dir.filename(), "0123abcd");
}

TEST_F(SlotCacheFilesTest, TheNewestFileOfEachSlotIsRestoredAndASaveDropsTheOlderOnes) {
    const auto dir = dir_of("m", "f1");
    write(dir, "slot-0.1-1.bin", 10, 30s);
    write(dir, "slot-0.1-2.bin", 10, 10s);
    write(dir, "slot-1.1-1.bin", 10, 30s);
    write(dir, "notes.txt", 10, 1s);
    auto newest = files_.newest(dir.string());
    ASSERT_EQ(newest.size(), 2u);
    EXPECT_EQ(newest.at(0).name, "slot-0.1-2.bin");
    EXPECT_EQ(newest.at(1).name, "slot-1.1-1.bin");
    files_.drop_older(dir.string(), {{0, "slot-0.1-2.bin"}});
    EXPECT_FALSE(fs::exists(dir / "slot-0.1-1.bin"));
    EXPECT_TRUE(fs::exists(dir / "slot-0.1-2.bin"));
    EXPECT_TRUE(fs::exists(dir / "slot-1.1-1.bin"));
    EXPECT_TRUE(files_.newest(dir_of("m", "none").string()).empty());
}

TEST_F(SlotCacheFilesTest, CachesOfAReplacedModelFileAreDropped) {
    const auto dir = dir_of("m", "f");
    const auto model = write(state_, "m.gguf", 100, 60s);
    ASSERT_TRUE(SlotCacheFiles::prepare(dir, model));
    write(dir, "slot-0.1.bin", 10, 1s);
    ASSERT_TRUE(SlotCacheFiles::prepare(dir, model));  // the same file: kept
    EXPECT_TRUE(fs::exists(dir / "slot-0.1.bin"));
    write(state_, "m.gguf", 200, 1s);  // new weights under the same path
    ASSERT_TRUE(SlotCacheFiles::prepare(dir, model));
    EXPECT_FALSE(fs::exists(dir / "slot-0.1.bin"));
}

TEST_F(SlotCacheFilesTest, TheDiskBudgetPrunesTheLeastRecentlyUsedFirst) {
    const auto a = write(dir_of("a", "f"), "slot-0.1.bin", 400, 300s);
    const auto b = write(dir_of("b", "f"), "slot-0.1.bin", 400, 200s);
    const auto c = write(dir_of("b", "f"), "slot-1.1.bin", 400, 100s);
    files_.touch(a.string());  // restored just now: the most recently used
    EXPECT_EQ(files_.total_bytes(), 1200u);
    EXPECT_EQ(files_.prune(1200), 0u);
    EXPECT_EQ(files_.prune(900), 1u);
    EXPECT_FALSE(fs::exists(b));
    EXPECT_TRUE(fs::exists(a));
    EXPECT_TRUE(fs::exists(c));
    EXPECT_EQ(files_.prune(0), 2u);
    EXPECT_EQ(files_.total_bytes(), 0u);
}

TEST_F(SlotCacheFilesTest, CachesOfRemovedModelsAndChangedSettingsAreDropped) {
    write(dir_of("kept", "old"), "slot-0.1.bin", 10, 1s);
    write(dir_of("kept", "new"), "slot-0.1.bin", 10, 1s);
    write(dir_of("org/x", "f"), "slot-0.1.bin", 10, 1s);
    write(dir_of("gone", "f"), "slot-0.1.bin", 10, 1s);
    files_.retain({{"kept", {"new"}}, {"org/x", {"f"}}});
    EXPECT_FALSE(fs::exists(dir_of("kept", "old")));
    EXPECT_TRUE(fs::exists(dir_of("kept", "new") / "slot-0.1.bin"));
    EXPECT_TRUE(fs::exists(dir_of("org/x", "f") / "slot-0.1.bin"));
    EXPECT_FALSE(fs::exists(dir_of("gone", "f").parent_path()));
}

// What a runner accepts of the host's paths on its disk: only under its root, ".." resolved.
TEST(StoredFiles, OnlyPathsUnderTheRootAreAccepted) {
    using plugin_common::path_within;
    EXPECT_TRUE(path_within("/srv/kv/m/f", "/srv/kv"));
    EXPECT_TRUE(path_within("/srv/kv/m/../n", "/srv/kv/"));
    EXPECT_FALSE(path_within("/srv/kv", "/srv/kv"));
    EXPECT_FALSE(path_within("/srv/kv/../etc", "/srv/kv"));
    EXPECT_FALSE(path_within("/srv/kvx/m", "/srv/kv"));
    EXPECT_FALSE(path_within("srv/kv/m", "/srv/kv"));
    EXPECT_FALSE(path_within("/srv/kv/m", ""));
    EXPECT_NO_THROW(plugin_common::require_within({"/srv/kv"}, "/srv/kv", true));
    std::optional<std::string> under = "/srv/kv/m/f", outside = "/tmp/x", none;
    plugin_common::keep_within(under, "/srv/kv");
    plugin_common::keep_within(outside, "/srv/kv");
    plugin_common::keep_within(none, "/srv/kv");
    EXPECT_EQ(under, "/srv/kv/m/f");
    EXPECT_FALSE(outside);
    EXPECT_FALSE(none);
    try {
        plugin_common::require_within({"/srv/kv/a", "/etc/passwd"}, "/srv/kv");
        ADD_FAILURE() << "accepted /etc/passwd";
    } catch (const sdk::Error& e) {
        EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
        EXPECT_THAT(e.what(), ::testing::HasSubstr("/etc/passwd"));
    }
}

// A runner's disk (ssh, slurm), in memory: the same rules through list and remove only.
class FakeRunnerDisk : public CacheDisk {
public:
    std::vector<sdk::StoredFile> list(const std::string& dir) override {
        std::vector<sdk::StoredFile> out;
        for (const auto& [path, file] : files)
            if (path.rfind(dir + "/", 0) == 0) out.push_back({path.substr(dir.size() + 1), file.first, file.second});
        return out;
    }
    void remove(const std::vector<std::string>& paths) override {
        removals.push_back(paths);
        for (const auto& p : paths) std::erase_if(files, [&](const auto& f) { return f.first == p || f.first.rfind(p + "/", 0) == 0; });
    }
    void touch(const std::string&) override {}

    std::map<std::string, std::pair<uint64_t, int64_t>> files;  // path -> bytes, modified_ms
    std::vector<std::vector<std::string>> removals;
};

TEST(SlotCacheFilesOnARunnersDisk, NewestPruneAndRetainWorkThroughListAndRemove) {
    auto disk = std::make_shared<FakeRunnerDisk>();
    SlotCacheFiles files("/srv/state/kv-cache", disk);
    EXPECT_EQ(files.directory("org/m", "f1"), "/srv/state/kv-cache/org%2Fm/f1");
    disk->files = {{"/srv/state/kv-cache/a/f1/slot-0.1.bin", {400, 1000}},
                   {"/srv/state/kv-cache/a/f1/slot-0.2.bin", {400, 3000}},
                   {"/srv/state/kv-cache/a/f1/slot-1.1.bin", {400, 2000}},
                   {"/srv/state/kv-cache/a/old/slot-0.1.bin", {400, 500}},
                   {"/srv/state/kv-cache/gone/f/slot-0.1.bin", {400, 4000}}};
    auto newest = files.newest("/srv/state/kv-cache/a/f1");
    ASSERT_EQ(newest.size(), 2u);
    EXPECT_EQ(newest.at(0).name, "slot-0.2.bin");
    files.drop_older("/srv/state/kv-cache/a/f1", {{0, "slot-0.2.bin"}});
    EXPECT_EQ(disk->removals.back(), std::vector<std::string>{"/srv/state/kv-cache/a/f1/slot-0.1.bin"});
    // Every saved slot in one listing and one removal; nothing to remove, no call.
    disk->files["/srv/state/kv-cache/a/f1/slot-0.0.bin"] = {400, 10};
    disk->files["/srv/state/kv-cache/a/f1/slot-1.0.bin"] = {400, 10};
    files.drop_older("/srv/state/kv-cache/a/f1", {{0, "slot-0.2.bin"}, {1, "slot-1.1.bin"}});
    EXPECT_EQ(disk->removals.back(),
              (std::vector<std::string>{"/srv/state/kv-cache/a/f1/slot-0.0.bin", "/srv/state/kv-cache/a/f1/slot-1.0.bin"}));
    const auto removals = disk->removals.size();
    files.drop_older("/srv/state/kv-cache/a/f1", {{0, "slot-0.2.bin"}, {1, "slot-1.1.bin"}});
    EXPECT_EQ(disk->removals.size(), removals);
    EXPECT_EQ(files.total_bytes(), 1600u);
    // The oldest two go, in one call.
    EXPECT_EQ(files.prune(800), 2u);
    EXPECT_EQ(disk->removals.back(),
              (std::vector<std::string>{"/srv/state/kv-cache/a/old/slot-0.1.bin", "/srv/state/kv-cache/a/f1/slot-1.1.bin"}));
    disk->files["/srv/state/kv-cache/a/old/slot-0.1.bin"] = {10, 1};
    files.retain({{"a", {"f1"}}});
    EXPECT_EQ(disk->removals.back(), (std::vector<std::string>{"/srv/state/kv-cache/a/old", "/srv/state/kv-cache/gone"}));
    EXPECT_EQ(disk->files.size(), 1u);
}

}  // namespace
}  // namespace corral::state
