// The GGUF reader: every value type, per-layer arrays, tensor sizes per ggml type, and hostile or
// truncated input (always a FormatError, never a crash or a huge allocation).
#include "gguf/ggml_type.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/model_info.hpp"
#include "gguf_builder.hpp"

#include <gtest/gtest.h>

namespace corral::gguf {
namespace {

using test::GgufBuilder;

// A small GQA llama: 4 layers, 8 heads (2 KV heads), embedding 256, f16 weights, q8_0 FFN.
GgufBuilder small_llama() {
    GgufBuilder b;
    b.kv_str("general.architecture", "llama")
        .kv_str("general.name", "small")
        .kv_u32("general.file_type", 15)
        .kv_u32("llama.block_count", 4)
        .kv_u32("llama.context_length", 4096)
        .kv_u32("llama.embedding_length", 256)
        .kv_u32("llama.feed_forward_length", 512)
        .kv_u32("llama.attention.head_count", 8)
        .kv_u32("llama.attention.head_count_kv", 2)
        .kv_str("tokenizer.chat_template", "{{ messages }}");
    b.tensor("token_embd.weight", {256, 1000}, 1, 256 * 1000 * 2);
    for (int l = 0; l < 4; ++l) {
        auto p = "blk." + std::to_string(l) + ".";
        b.tensor(p + "attn_q.weight", {256, 256}, 1, 256 * 256 * 2);
        b.tensor(p + "ffn_up.weight", {256, 512}, 8, 256 / 32 * 34 * 512);
    }
    b.tensor("output_norm.weight", {256}, 0, 256 * 4);
    b.tensor("output.weight", {256, 1000}, 1, 256 * 1000 * 2);
    return b;
}

TEST(GgmlType, SizesMatchGgml) {
    ASSERT_NE(ggml_type(12), nullptr);
    EXPECT_EQ(ggml_type(12)->name, "q4_K");
    EXPECT_EQ(*ggml_row_bytes(*ggml_type(12), 4096), 4096u / 256 * 144);
    EXPECT_EQ(*ggml_row_bytes(*ggml_type(8), 64), 68u);  // q8_0: 2 blocks of 34 bytes
    EXPECT_FALSE(ggml_row_bytes(*ggml_type(8), 33));     // not a whole block
    EXPECT_EQ(ggml_type(4), nullptr);                    // q4_2, removed from ggml
    EXPECT_EQ(ggml_type_by_name("Q8_0"), ggml_type(8));
    EXPECT_EQ(ggml_type_by_name("nope"), nullptr);
}

TEST(GgufFile, ReadsMetadataAndTensors) {
    auto bytes = small_llama().build();
    auto file = parse(bytes);
    EXPECT_EQ(file.version, 3u);
    ASSERT_NE(file.find("general.name"), nullptr);
    EXPECT_EQ(file.find("general.name")->as_string(), "small");
    EXPECT_EQ(file.find("llama.block_count")->as_uint(), 4u);
    EXPECT_EQ(file.find("missing"), nullptr);
    ASSERT_EQ(file.tensors.size(), 11u);
    EXPECT_EQ(file.tensors[2].name, "blk.0.ffn_up.weight");
    EXPECT_EQ(file.tensors[2].bytes, 256u / 32 * 34 * 512);
    EXPECT_EQ(file.data_offset % 32, 0u);
}

TEST(GgufFile, ReadsEveryValueType) {
    GgufBuilder b;
    b.kv_raw("u8", GgufBuilder::U8, {200})
        .kv_raw("i8", GgufBuilder::I8, {0xFF})
        .kv_raw("u16", GgufBuilder::U16, {0x34, 0x12})
        .kv_raw("i16", GgufBuilder::I16, {0xFE, 0xFF})
        .kv_u32("u32", 70000)
        .kv_i32("i32", -5)
        .kv_raw("f32", GgufBuilder::F32, {0, 0, 0xC0, 0x3F})
        .kv_raw("bool", GgufBuilder::BOOL, {1})
        .kv_str("str", "hello")
        .kv_raw("u64", GgufBuilder::U64, {1, 0, 0, 0, 0, 0, 0, 1})
        .kv_raw("i64", GgufBuilder::I64, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
        .kv_raw("f64", GgufBuilder::F64, {0, 0, 0, 0, 0, 0, 0xF8, 0x3F})
        // An array of two arrays of one u8 each.
        .kv_raw("nested", GgufBuilder::ARRAY,
                {9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8});
    auto file = parse(b.build());
    EXPECT_EQ(file.find("u8")->as_uint(), 200u);
    EXPECT_EQ(file.find("i8")->as_int(), -1);
    EXPECT_FALSE(file.find("i8")->as_uint());
    EXPECT_EQ(file.find("u16")->as_uint(), 0x1234u);
    EXPECT_EQ(file.find("i16")->as_int(), -2);
    EXPECT_EQ(file.find("u32")->as_uint(), 70000u);
    EXPECT_EQ(file.find("i32")->as_int(), -5);
    EXPECT_FLOAT_EQ(static_cast<float>(file.find("f32")->real), 1.5f);
    EXPECT_EQ(file.find("bool")->uint, 1u);
    EXPECT_EQ(file.find("str")->as_string(), "hello");
    EXPECT_EQ(file.find("u64")->as_uint(), (uint64_t{1} << 56) + 1);
    EXPECT_EQ(file.find("i64")->as_int(), -1);
    EXPECT_DOUBLE_EQ(file.find("f64")->real, 1.5);
    const auto* nested = file.find("nested");
    ASSERT_TRUE(nested->is_array());
    ASSERT_EQ(nested->items.size(), 2u);
    EXPECT_EQ(nested->items[1].items.at(0).uint, 8u);
}

TEST(GgufFile, LongArraysKeepTheirCountButNotEveryItem) {
    std::vector<uint32_t> many(10000, 7);
    GgufBuilder b;
    b.kv_u32_array("many", many);
    auto file = parse(b.build(), {.max_array_items = 100, .max_kept_items = 1000});
    EXPECT_EQ(file.find("many")->count, 10000u);
    EXPECT_EQ(file.find("many")->items.size(), 100u);
}

TEST(GgufFile, EveryTruncationIsAnErrorNotACrash) {
    auto bytes = small_llama().build();
    for (std::size_t n = 0; n < bytes.size(); n += (n < 2048 ? 1 : 997)) {
        EXPECT_THROW(parse(std::span(bytes.data(), n)), FormatError) << "truncated to " << n << " bytes";
    }
}

TEST(GgufFile, HostileHeadersAreErrors) {
    auto expect_error = [](std::vector<uint8_t> bytes, const std::string& fragment) {
        try {
            parse(bytes);
            ADD_FAILURE() << "no error, expected " << fragment;
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    expect_error({'G', 'G', 'M', 'L', 3, 0, 0, 0}, "not a GGUF file");
    expect_error({'G', 'G', 'U', 'F', 0, 0, 0, 3}, "big-endian");
    expect_error({'G', 'G', 'U', 'F', 9, 0, 0, 0}, "unsupported GGUF version 9");
    // 2^60 metadata entries in a 24-byte file.
    expect_error({'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, "exceeds the file");
    // A string claiming 2^40 bytes.
    expect_error(GgufBuilder().kv_raw("s", GgufBuilder::STRING, {0, 0, 0, 0, 0, 1, 0, 0}).build(), "1099511627776 bytes long");
    expect_error(GgufBuilder().kv_raw("s", GgufBuilder::STRING, {0, 1, 0, 0, 0, 0, 0, 0}).build(), "truncated string");
    // An array of 2^50 u32.
    expect_error(GgufBuilder().kv_raw("a", GgufBuilder::ARRAY, {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0}).build(), "exceeds the file");
    // Arrays nested 100 deep.
    std::vector<uint8_t> deep;
    for (int i = 0; i < 100; ++i) deep.insert(deep.end(), {9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0});
    expect_error(GgufBuilder().kv_raw("deep", GgufBuilder::ARRAY, deep).build(), "nested deeper");
    expect_error(GgufBuilder().kv_raw("t", 13, {}).build(), "unknown value type 13");
    expect_error(GgufBuilder().kv_raw("b", GgufBuilder::BOOL, {2}).build(), "bool value 2");
    expect_error(GgufBuilder().kv_u32("k", 1).kv_u32("k", 2).build(), "duplicate metadata key");
    expect_error(GgufBuilder().kv_u32("general.alignment", 24).build(), "power of two");
    expect_error(GgufBuilder().tensor("t", {32}, 4, 1).build(), "unknown ggml type 4");
    expect_error(GgufBuilder().tensor("t", {33}, 8, 34).build(), "not a multiple");
    expect_error(GgufBuilder().tensor("t", {1, 0, 0, 0, 0}, 0, 4).build(), "5 dimensions");
    expect_error(GgufBuilder().tensor("t", {1ull << 40, 1ull << 40}, 0, 4).build(), "impossible size");
    expect_error(GgufBuilder().tensor("t", {4}, 0, 16).tensor("t", {4}, 0, 16).build(), "duplicate tensor");
    // Tensor data past the end of the file.
    auto cut = GgufBuilder().tensor("t", {1024}, 0, 4096).build();
    cut.resize(cut.size() - 100);
    expect_error(cut, "extends past the end");
}

TEST(ModelInfo, DescribesShapeAndBytesPerLayer) {
    auto info = describe(parse(small_llama().build()));
    EXPECT_EQ(info.architecture, "llama");
    EXPECT_EQ(info.name, "small");
    EXPECT_EQ(info.block_count, 4u);
    EXPECT_EQ(info.context_length, 4096u);
    EXPECT_EQ(info.file_type_name, "Q4_K_M");
    EXPECT_TRUE(info.has_chat_template);
    EXPECT_EQ(info.head_count, (std::vector<uint64_t>{8, 8, 8, 8}));
    EXPECT_EQ(info.head_count_kv, (std::vector<uint64_t>{2, 2, 2, 2}));
    EXPECT_EQ(info.key_length_of(0), 32u);
    ASSERT_EQ(info.layer_bytes.size(), 4u);
    EXPECT_EQ(info.layer_bytes[3], 256u * 256 * 2 + 256 / 32 * 34 * 512);
    EXPECT_EQ(info.output_bytes, 256u * 4 + 256 * 1000 * 2);
    EXPECT_EQ(info.input_bytes, 256u * 1000 * 2);
    EXPECT_EQ(info.tensor_bytes, info.input_bytes + info.output_bytes + 4 * info.layer_bytes[0]);
}

TEST(ModelInfo, PerLayerHeadArrays) {
    auto b = GgufBuilder()
                 .kv_str("general.architecture", "openelm")
                 .kv_u32("openelm.block_count", 3)
                 .kv_u32("openelm.embedding_length", 1280)
                 .kv_u32_array("openelm.attention.head_count", {12, 16, 20})
                 .kv_u32_array("openelm.attention.head_count_kv", {3, 4, 5})
                 .kv_u32("openelm.attention.key_length", 64);
    auto info = describe(parse(b.build()));
    EXPECT_EQ(info.head_count_kv, (std::vector<uint64_t>{3, 4, 5}));
    EXPECT_EQ(info.key_length_of(2), 64u);
    // An array that does not have one entry per layer is an error naming the key.
    auto bad = GgufBuilder()
                   .kv_str("general.architecture", "openelm")
                   .kv_u32("openelm.block_count", 3)
                   .kv_u32_array("openelm.attention.head_count_kv", {3, 4});
    EXPECT_THROW(
        {
            try {
                describe(parse(bad.build()));
            } catch (const FormatError& e) {
                EXPECT_NE(std::string(e.what()).find("openelm.attention.head_count_kv has 2 entries for 3 layers"), std::string::npos);
                throw;
            }
        },
        FormatError);
}

TEST(ModelInfo, MissingArchitectureIsAnError) {
    EXPECT_THROW(describe(parse(GgufBuilder().kv_u32("x", 1).build())), FormatError);
    EXPECT_THROW(describe(parse(GgufBuilder().kv_str("general.architecture", "llama").build())), FormatError);  // no block_count
}

}  // namespace
}  // namespace corral::gguf
