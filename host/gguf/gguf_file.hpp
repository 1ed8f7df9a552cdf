// A bounds-checked reader of GGUF files (llama.cpp's model format): header, metadata and tensor infos.
//
// Every length, count and offset is checked against the bytes that are really there, so a truncated
// or hostile file is a FormatError naming the byte offset, never a crash or a huge allocation.
// Tensor data is not read: files are memory-mapped and only the header pages are touched.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::gguf {

class FormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class ValueType : uint32_t { Uint8, Int8, Uint16, Int16, Uint32, Int32, Float32, Bool, String, Array, Uint64, Int64, Float64 };

std::string_view value_type_name(ValueType type);

// One metadata value. Scalars live in the member their type names; arrays keep their element type,
// their count and, within ReadOptions' limits, their items (tokenizer vocabularies are not
// needed to size a model and can hold 200k strings).
struct Value {
    ValueType type = ValueType::Uint8;
    uint64_t uint = 0;  // Uint8..Uint64, Bool (0/1)
    int64_t sint = 0;   // Int8..Int64
    double real = 0;    // Float32, Float64
    std::string str;    // String
    ValueType element_type = ValueType::Uint8;
    uint64_t count = 0;        // Array: number of elements in the file
    std::vector<Value> items;  // Array: the elements kept (all of them unless count > max_array_items)

    // Integers of any width and sign (negative values excepted for as_uint); empty for other types.
    std::optional<uint64_t> as_uint() const;
    std::optional<int64_t> as_int() const;
    std::optional<std::string_view> as_string() const;
    bool is_array() const { return type == ValueType::Array; }
};

struct TensorInfo {
    std::string name;
    std::vector<uint64_t> dims;  // ggml order: dims[0] is the row length
    uint32_t type = 0;           // ggml type id
    uint64_t offset = 0;         // from the start of the data section
    uint64_t bytes = 0;          // size of its data
};

struct File {
    uint32_t version = 0;
    std::vector<std::pair<std::string, Value>> metadata;  // in file order
    std::vector<TensorInfo> tensors;                      // in file order
    uint64_t alignment = 32;
    uint64_t data_offset = 0;  // where tensor data starts
    uint64_t size = 0;         // bytes in the file

    const Value* find(std::string_view key) const;
};

struct ReadOptions {
    uint64_t max_array_items = 4096;     // items kept per array (the count is always exact)
    uint64_t max_kept_items = 1u << 18;  // items kept over all arrays
};

// Parses a whole GGUF image in memory. Throws FormatError.
File parse(std::span<const uint8_t> bytes, const ReadOptions& options = {});

// Maps and parses a file. Throws FormatError for a malformed file, std::system_error when it cannot
// be opened or mapped.
File read_file(const std::filesystem::path& path, const ReadOptions& options = {});

}  // namespace corral::gguf
