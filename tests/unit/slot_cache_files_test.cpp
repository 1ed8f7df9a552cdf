// Saved prompt caches on disk: names llama-server accepts, the newest per slot, the disk budget and
// the caches no configured model can use.
#include "state/slot_cache_files.hpp"

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
    const auto dir = files_.directory("org/m:q4", "0123abcd");
    EXPECT_EQ(dir.parent_path().parent_path(), state_ / "kv-cache");
    EXPECT_EQ(dir.parent_path().filename(), "org%2Fm%3Aq4");
    EXPECT_EQ(dir.filename(), "0123abcd");
}

TEST_F(SlotCacheFilesTest, TheNewestFileOfEachSlotIsRestoredAndASaveDropsTheOlderOnes) {
    const auto dir = files_.directory("m", "f1");
    write(dir, "slot-0.1-1.bin", 10, 30s);
    write(dir, "slot-0.1-2.bin", 10, 10s);
    write(dir, "slot-1.1-1.bin", 10, 30s);
    write(dir, "notes.txt", 10, 1s);
    auto newest = SlotCacheFiles::newest(dir);
    ASSERT_EQ(newest.size(), 2u);
    EXPECT_EQ(newest.at(0).name, "slot-0.1-2.bin");
    EXPECT_EQ(newest.at(1).name, "slot-1.1-1.bin");
    SlotCacheFiles::drop_older(dir, 0, "slot-0.1-2.bin");
    EXPECT_FALSE(fs::exists(dir / "slot-0.1-1.bin"));
    EXPECT_TRUE(fs::exists(dir / "slot-0.1-2.bin"));
    EXPECT_TRUE(fs::exists(dir / "slot-1.1-1.bin"));
    EXPECT_TRUE(SlotCacheFiles::newest(files_.directory("m", "none")).empty());
}

TEST_F(SlotCacheFilesTest, CachesOfAReplacedModelFileAreDropped) {
    const auto dir = files_.directory("m", "f");
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
    const auto a = write(files_.directory("a", "f"), "slot-0.1.bin", 400, 300s);
    const auto b = write(files_.directory("b", "f"), "slot-0.1.bin", 400, 200s);
    const auto c = write(files_.directory("b", "f"), "slot-1.1.bin", 400, 100s);
    SlotCacheFiles::touch(a);  // restored just now: the most recently used
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
    write(files_.directory("kept", "old"), "slot-0.1.bin", 10, 1s);
    write(files_.directory("kept", "new"), "slot-0.1.bin", 10, 1s);
    write(files_.directory("org/x", "f"), "slot-0.1.bin", 10, 1s);
    write(files_.directory("gone", "f"), "slot-0.1.bin", 10, 1s);
    files_.retain({{"kept", {"new"}}, {"org/x", {"f"}}});
    EXPECT_FALSE(fs::exists(files_.directory("kept", "old")));
    EXPECT_TRUE(fs::exists(files_.directory("kept", "new") / "slot-0.1.bin"));
    EXPECT_TRUE(fs::exists(files_.directory("org/x", "f") / "slot-0.1.bin"));
    EXPECT_FALSE(fs::exists(files_.directory("gone", "f").parent_path()));
}

}  // namespace
}  // namespace corral::state
