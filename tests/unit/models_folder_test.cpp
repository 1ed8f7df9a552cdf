// Models found in folders: the naming rule, split sets, projectors, files still being written, and
// clashes (reported, never one silently chosen).
#include "config/models_folder.hpp"

#include "gguf_builder.hpp"
#include "scratch_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

namespace corral::config {
namespace {

using ::testing::HasSubstr;

FolderFile whole(const std::string& path) {
    return {path, std::nullopt};
}

std::vector<std::string> names(const FolderDiscovery& d) {
    std::vector<std::string> out;
    for (const auto& m : d.models) out.push_back(m.name);
    return out;
}

std::string problems(const FolderDiscovery& d) {
    std::string out;
    for (const auto& p : d.problems) out += p.path.string() + ": " + p.message + "\n";
    return out;
}

TEST(ModelsFolder, NamesAreTheFileNameInLowerCaseWithoutGgufAndSplitSuffix) {
    EXPECT_EQ(model_name_for_file("Qwen2.5-7B-Instruct-Q4_K_M.gguf"), "qwen2.5-7b-instruct-q4_k_m");
    EXPECT_EQ(model_name_for_file("Llama-3-70B-Q4_K_M-00001-of-00003.gguf"), "llama-3-70b-q4_k_m");
    EXPECT_EQ(model_name_for_file("tiny.GGUF"), "tiny");
    EXPECT_EQ(model_name_for_file("my model v2.gguf"), "my-model-v2");
    EXPECT_EQ(model_name_for_file("x-1-of-2.gguf"), "x-1-of-2") << "only llama.cpp's five-digit suffix is a split";
}

TEST(ModelsFolder, EveryGgufIsAModelAndASplitSetIsOne) {
    auto d = discover_models({whole("/m/Tiny-A.gguf"), whole("/m/sub/tiny-b.gguf"), whole("/m/notes.txt"),
                              whole("/m/big-00002-of-00002.gguf"), whole("/m/big-00001-of-00002.gguf")});
    EXPECT_THAT(names(d), ::testing::ElementsAre("big", "tiny-a", "tiny-b")) << problems(d);
    EXPECT_EQ(d.models[0].path, "/m/big-00001-of-00002.gguf") << "a split model is served from its first part";
    EXPECT_EQ(d.models[2].path, "/m/sub/tiny-b.gguf");
    EXPECT_TRUE(d.problems.empty()) << problems(d);
}

TEST(ModelsFolder, AnIncompleteSplitSetWaitsForItsParts) {
    auto d = discover_models({whole("/m/big-00001-of-00003.gguf"), whole("/m/big-00003-of-00003.gguf")});
    EXPECT_TRUE(d.models.empty());
    EXPECT_THAT(problems(d), HasSubstr("2 of the 3 parts of \"big\""));
}

TEST(ModelsFolder, AFileStillBeingWrittenIsLeftOutForNow) {
    auto d = discover_models({whole("/m/a.gguf"), {"/m/b.gguf", "its tensor data ends at byte 900 but the file has 100"}});
    EXPECT_THAT(names(d), ::testing::ElementsAre("a"));
    EXPECT_THAT(problems(d), HasSubstr("/m/b.gguf: left out for now: b.gguf: its tensor data ends"));
}

TEST(ModelsFolder, AProjectorGoesToItsFoldersModelOrToTheModelItNames) {
    auto d = discover_models({whole("/m/vision/llava.gguf"), whole("/m/vision/mmproj-model-f16.gguf"), whole("/m/two/a.gguf"),
                              whole("/m/two/b.gguf"), whole("/m/two/mmproj-b.gguf"), whole("/m/two/mmproj-other.gguf")});
    ASSERT_THAT(names(d), ::testing::ElementsAre("a", "b", "llava")) << problems(d);
    EXPECT_FALSE(d.models[0].mmproj);
    EXPECT_EQ(d.models[1].mmproj, "/m/two/mmproj-b.gguf");
    EXPECT_EQ(d.models[2].mmproj, "/m/vision/mmproj-model-f16.gguf");
    EXPECT_THAT(problems(d), HasSubstr("/m/two/mmproj-other.gguf: not used: 2 models share its folder"));
}

TEST(ModelsFolder, ClashesAreReportedAndNeitherFileIsChosen) {
    auto d = discover_models({whole("/m/Foo.gguf"), whole("/m/foo.gguf"), whole("/m/a/bar.gguf"), whole("/m/b/bar.gguf"),
                              whole("/m/baz.gguf"), whole("/m/baz-00001-of-00001.gguf"), whole("/m/ok.gguf")});
    EXPECT_THAT(names(d), ::testing::ElementsAre("ok"));
    const auto p = problems(d);
    EXPECT_THAT(p, HasSubstr("the name \"foo\" is given by several files in /m (Foo.gguf, foo.gguf)"));
    EXPECT_THAT(p, HasSubstr("the name \"bar\" is given by files in several folders (/m/a, /m/b)"));
    EXPECT_THAT(p, HasSubstr("the name \"baz\" is given by several files"));
}

class ModelsFolderFiles : public test::ScratchDirTest {
protected:
    ModelsFolderFiles() : ScratchDirTest("models-folder") {}
    void write(const std::string& name, const std::vector<uint8_t>& bytes, std::size_t n) {
        std::ofstream(dir_ / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(n));
    }
};

TEST_F(ModelsFolderFiles, ListingChecksThatEachFileIsWhole) {
    test::GgufBuilder b;
    b.kv_str("general.architecture", "llama").tensor("token_embd.weight", {64, 64}, 0, 64 * 64 * 4);
    const auto model = b.build();
    write("whole.gguf", model, model.size());
    write("half.gguf", model, model.size() / 2);  // a copy still under way
    std::ofstream(dir_ / "readme.md") << "not a model";
    std::filesystem::create_directories(dir_ / "quarantine");  // corral pull's rejects
    write("quarantine/20261203T100000Z-bad.gguf", model, model.size());
    std::filesystem::create_directories(dir_ / "sub" / ".cache");
    write("sub/.cache/hidden.gguf", model, model.size());
    write("sub/nested.gguf", model, model.size());
    write("whole.gguf.partial", model, model.size() / 2);  // corral pull's download in progress
    const auto& dir = dir_;
    std::vector<FolderProblem> problems;
    auto files = list_model_files(dir, problems);
    EXPECT_TRUE(problems.empty());
    ASSERT_EQ(files.size(), 3u);
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    EXPECT_EQ(files[0].path.filename(), "half.gguf");
    EXPECT_TRUE(files[0].unfinished);
    EXPECT_EQ(files[1].path.filename(), "nested.gguf");
    EXPECT_EQ(files[2].path.filename(), "whole.gguf");
    EXPECT_FALSE(files[2].unfinished) << *files[2].unfinished;

    list_model_files(dir / "missing", problems);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_THAT(problems[0].message, HasSubstr("cannot read the folder"));
}

}  // namespace
}  // namespace corral::config
