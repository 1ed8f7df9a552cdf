// /v1/models' details and capabilities from GGUF files (written with GgufBuilder) and a server's
// arguments: parameters over every part of a split set, embedding models, projectors' encoders.
#include "proxy/model_facts.hpp"
#include "gguf/model_info.hpp"
#include "gguf/split_files.hpp"

#include "gguf_builder.hpp"
#include "scratch_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <fstream>

namespace corral::proxy {
namespace {

namespace fs = std::filesystem;
using test::GgufBuilder;

void write(const fs::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

GgufBuilder text_model(bool chat_template) {
    GgufBuilder b;
    b.kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 1)
        .kv_u32("llama.context_length", 4096)
        .kv_u32("general.file_type", 7);
    if (chat_template) b.kv_str("tokenizer.chat_template", "{{ messages }}");
    b.tensor("token_embd.weight", {8, 16}, 0, 8 * 16 * 4).tensor("blk.0.attn_q.weight", {8, 8}, 0, 8 * 8 * 4);
    return b;
}

config::ModelConfig model_at(const fs::path& path, std::vector<std::string> args = {}) {
    config::ModelConfig m;
    m.name = "m";
    m.server.model_path = path;
    m.server.extra_args = std::move(args);
    return m;
}

std::string caps(const boost::json::object& facts) {
    return boost::json::serialize(facts.at("capabilities"));
}

class ModelFactsFiles : public test::ScratchDirTest {
protected:
    ModelFactsFiles() : ScratchDirTest("model-facts") {}
    ModelFacts facts_;
};

TEST_F(ModelFactsFiles, DetailsComeFromTheHeaderAndTheTensorTable) {
    write(dir_ / "chat.gguf", text_model(true).build());
    auto f = facts_.of_model(model_at(dir_ / "chat.gguf"));
    const auto& d = f.at("details").as_object();
    EXPECT_EQ(d.at("architecture"), "llama");
    EXPECT_EQ(d.at("parameters"), 8 * 16 + 8 * 8);
    EXPECT_EQ(d.at("parameter_size"), "192");
    EXPECT_EQ(d.at("quantization"), "Q8_0");
    EXPECT_EQ(d.at("context_length"), 4096);
    EXPECT_EQ(d.at("file_size").to_number<uintmax_t>(), fs::file_size(dir_ / "chat.gguf"));
    EXPECT_EQ(caps(f), R"(["completion","chat"])");
    EXPECT_EQ(f.at("meta").at("n_params"), 192);

    write(dir_ / "base.gguf", text_model(false).build());
    EXPECT_EQ(caps(facts_.of_model(model_at(dir_ / "base.gguf"))), R"(["completion"])");
    // A template given to the server makes a base model chat; --embeddings makes it embed.
    EXPECT_EQ(caps(facts_.of_model(model_at(dir_ / "base.gguf", {"--chat-template", "chatml", "--embeddings"}))),
              R"(["completion","chat","embeddings"])");
    EXPECT_TRUE(facts_.of_model(model_at(dir_ / "missing.gguf")).empty());
}

TEST_F(ModelFactsFiles, ASplitSetCountsEveryPart) {
    write(dir_ / "big-00001-of-00002.gguf", text_model(true).build());
    GgufBuilder part2;
    part2.tensor("blk.0.ffn_up.weight", {8, 32}, 0, 8 * 32 * 4);
    write(dir_ / "big-00002-of-00002.gguf", part2.build());
    auto d = facts_.of_model(model_at(dir_ / "big-00001-of-00002.gguf")).at("details");
    EXPECT_EQ(d.at("parameters"), 192 + 256);
    EXPECT_EQ(d.at("files"), 2);
    EXPECT_EQ(d.at("file_size").to_number<uintmax_t>(),
              fs::file_size(dir_ / "big-00001-of-00002.gguf") + fs::file_size(dir_ / "big-00002-of-00002.gguf"));
    // A part missing: nothing is claimed.
    fs::remove(dir_ / "big-00002-of-00002.gguf");
    write(dir_ / "big-00001-of-00002.gguf", text_model(false).build());  // a new version: read again
    EXPECT_TRUE(facts_.of_model(model_at(dir_ / "big-00001-of-00002.gguf")).empty());
}

TEST_F(ModelFactsFiles, EmbeddingModelsAndProjectors) {
    GgufBuilder bert;
    bert.kv_str("general.architecture", "bert").kv_u32("bert.block_count", 1).kv_u32("bert.pooling_type", 1);
    bert.kv_raw("bert.attention.causal", GgufBuilder::BOOL, {0}).tensor("token_embd.weight", {8, 8}, 0, 256);
    write(dir_ / "embed.gguf", bert.build());
    EXPECT_EQ(caps(facts_.of_model(model_at(dir_ / "embed.gguf"))), "[]");  // llama-server needs --embeddings for it
    EXPECT_EQ(caps(facts_.of_model(model_at(dir_ / "embed.gguf", {"--embedding"}))), R"(["embeddings"])");
    EXPECT_EQ(caps(facts_.of_model(model_at(dir_ / "embed.gguf", {"--reranking"}))), R"(["rerank"])");

    write(dir_ / "chat.gguf", text_model(true).build());
    GgufBuilder vision;
    vision.kv_str("general.architecture", "clip").tensor("v.patch_embd.weight", {8, 8}, 0, 256);
    write(dir_ / "mmproj-old.gguf", vision.build());  // older projectors say nothing: vision
    EXPECT_EQ(caps(facts_.of_model(model_at(dir_ / "chat.gguf", {"--mmproj", (dir_ / "mmproj-old.gguf").string()}))),
              R"(["completion","chat","vision"])");
    GgufBuilder audio;
    audio.kv_str("general.architecture", "clip").kv_raw("clip.has_vision_encoder", GgufBuilder::BOOL, {0});
    audio.kv_raw("clip.has_audio_encoder", GgufBuilder::BOOL, {1}).tensor("a.conv1d.weight", {8, 8}, 0, 256);
    write(dir_ / "mmproj-audio.gguf", audio.build());
    EXPECT_EQ(caps(facts_.of_model(model_at(dir_ / "chat.gguf", {"--mmproj=" + (dir_ / "mmproj-audio.gguf").string()}))),
              R"(["completion","chat","audio"])");
}

TEST(ModelFacts, ParameterSizesAndArguments) {
    EXPECT_EQ(gguf::parameter_size(950), "950");
    EXPECT_EQ(gguf::parameter_size(2'400'000), "2.4M");
    EXPECT_EQ(gguf::parameter_size(7'615'616'512), "7.6B");
    EXPECT_EQ(projector_argument({"--ctx-size", "1", "-mm", "/p.gguf"}), fs::path("/p.gguf"));
    EXPECT_EQ(projector_argument({"--mmproj"}), std::nullopt);
    EXPECT_EQ(gguf::split_parts("/m/a-00002-of-00003.gguf"),
              (std::vector<fs::path>{"/m/a-00001-of-00003.gguf", "/m/a-00002-of-00003.gguf", "/m/a-00003-of-00003.gguf"}));
    EXPECT_EQ(gguf::split_parts("/m/a.gguf"), std::vector<fs::path>{"/m/a.gguf"});
}

}  // namespace
}  // namespace corral::proxy
