#include "gguf/gguf_file.hpp"

#include "gguf/ggml_type.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>
#include <unordered_set>

namespace corral::gguf {
namespace {

constexpr uint32_t kMaxDims = 4;     // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;  // nested arrays: deeper is hostile (and would exhaust the stack)
constexpr uint64_t kMaxStringBytes = 1u << 30;

// Bytes each element of a type takes at least in the file: bounds element counts before allocating.
uint64_t min_encoded_size(ValueType type) {
    switch (type) {
        case ValueType::Uint8:
        case ValueType::Int8:
        case ValueType::Bool:
            return 1;
        case ValueType::Uint16:
        case ValueType::Int16:
            return 2;
        case ValueType::Uint32:
        case ValueType::Int32:
        case ValueType::Float32:
            return 4;
        case ValueType::String:  // u64 length
        case ValueType::Uint64:
        case ValueType::Int64:
        case ValueType::Float64:
            return 8;
        case ValueType::Array:  // u32 type + u64 count
            return 12;
    }
    return 1;
}

class Cursor {
public:
    explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

    uint64_t position() const { return pos_; }
    uint64_t remaining() const { return bytes_.size() - pos_; }

    [[noreturn]] void fail(const std::string& what) const {
        throw FormatError("GGUF: " + what + " (at byte " + std::to_string(pos_) + " of " + std::to_string(bytes_.size()) + ")");
    }

    void need(uint64_t n, const char* what) const {
        if (n > remaining()) fail(std::string("truncated ") + what);
    }

    template <class T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string string(const char* what) {
        auto n = read<uint64_t>(what);
        if (n > kMaxStringBytes) fail(std::string(what) + " is " + std::to_string(n) + " bytes long");
        need(n, what);
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n;
        return s;
    }

    // A count of items that take at least `min_each` bytes each must fit in what is left.
    void check_count(uint64_t count, uint64_t min_each, const char* what) const {
        if (count > remaining() / min_each) fail(std::string(what) + " count " + std::to_string(count) + " exceeds the file");
    }

    void skip_to(uint64_t pos) {
        if (pos > bytes_.size()) fail("data section starts past the end of the file");
        pos_ = pos;
    }

private:
    std::span<const uint8_t> bytes_;
    uint64_t pos_ = 0;
};

ValueType read_type(Cursor& c, const char* what) {
    auto raw = c.read<uint32_t>(what);
    if (raw > static_cast<uint32_t>(ValueType::Float64)) c.fail("unknown value type " + std::to_string(raw) + " for " + what);
    return static_cast<ValueType>(raw);
}

// What a parse may still keep: array items are bounded per array and in total, so a file of many
// small arrays cannot make the reader allocate far more than the file holds.
struct Limits {
    uint64_t per_array;
    uint64_t total;
};

Value read_value(Cursor& c, ValueType type, Limits& limits, int depth);

void read_array(Cursor& c, Value& v, Limits& limits, int depth) {
    if (depth >= kMaxArrayNesting) c.fail("arrays nested deeper than " + std::to_string(kMaxArrayNesting));
    v.element_type = read_type(c, "array element type");
    v.count = c.read<uint64_t>("array length");
    c.check_count(v.count, min_encoded_size(v.element_type), "array");
    const uint64_t keep = std::min({v.count, limits.per_array, limits.total});
    limits.total -= keep;
    v.items.reserve(keep);
    for (uint64_t i = 0; i < v.count; ++i) {
        auto item = read_value(c, v.element_type, limits, depth + 1);
        if (i < keep) v.items.push_back(std::move(item));
    }
}

Value read_value(Cursor& c, ValueType type, Limits& limits, int depth) {
    Value v;
    v.type = type;
    switch (type) {
        case ValueType::Uint8:
            v.uint = c.read<uint8_t>("u8 value");
            break;
        case ValueType::Int8:
            v.sint = c.read<int8_t>("i8 value");
            break;
        case ValueType::Uint16:
            v.uint = c.read<uint16_t>("u16 value");
            break;
        case ValueType::Int16:
            v.sint = c.read<int16_t>("i16 value");
            break;
        case ValueType::Uint32:
            v.uint = c.read<uint32_t>("u32 value");
            break;
        case ValueType::Int32:
            v.sint = c.read<int32_t>("i32 value");
            break;
        case ValueType::Float32:
            v.real = c.read<float>("f32 value");
            break;
        case ValueType::Bool: {
            auto b = c.read<uint8_t>("bool value");
            if (b > 1) c.fail("bool value " + std::to_string(b));
            v.uint = b;
            break;
        }
        case ValueType::String:
            v.str = c.string("string value");
            break;
        case ValueType::Array:
            read_array(c, v, limits, depth);
            break;
        case ValueType::Uint64:
            v.uint = c.read<uint64_t>("u64 value");
            break;
        case ValueType::Int64:
            v.sint = c.read<int64_t>("i64 value");
            break;
        case ValueType::Float64:
            v.real = c.read<double>("f64 value");
            break;
    }
    return v;
}

// RAII read-only mapping of a whole file.
class Mapping {
public:
    explicit Mapping(const std::filesystem::path& path) {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            int err = errno;
            ::close(fd);
            throw std::system_error(err, std::generic_category(), "cannot stat " + path.string());
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            throw FormatError("GGUF: " + path.string() + " is not a regular file");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ > 0) {
            data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (data_ == MAP_FAILED) {
                int err = errno;
                ::close(fd);
                data_ = nullptr;
                throw std::system_error(err, std::generic_category(), "cannot map " + path.string());
            }
        }
        ::close(fd);
    }
    ~Mapping() {
        if (data_) ::munmap(data_, size_);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    std::span<const uint8_t> bytes() const { return {static_cast<const uint8_t*>(data_), size_}; }

private:
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace

std::string_view value_type_name(ValueType type) {
    static constexpr std::string_view kNames[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
    auto i = static_cast<uint32_t>(type);
    return i < std::size(kNames) ? kNames[i] : "?";
}

std::optional<uint64_t> Value::as_uint() const {
    switch (type) {
        case ValueType::Uint8:
        case ValueType::Uint16:
        case ValueType::Uint32:
        case ValueType::Uint64:
            return uint;
        case ValueType::Int8:
        case ValueType::Int16:
        case ValueType::Int32:
        case ValueType::Int64:
            if (sint >= 0) return static_cast<uint64_t>(sint);
            return std::nullopt;
        default:
            return std::nullopt;
    }
}

std::optional<int64_t> Value::as_int() const {
    switch (type) {
        case ValueType::Int8:
        case ValueType::Int16:
        case ValueType::Int32:
        case ValueType::Int64:
            return sint;
        case ValueType::Uint8:
        case ValueType::Uint16:
        case ValueType::Uint32:
        case ValueType::Uint64:
            if (uint <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(uint);
            return std::nullopt;
        default:
            return std::nullopt;
    }
}

std::optional<std::string_view> Value::as_string() const {
    if (type != ValueType::String) return std::nullopt;
    return str;
}

const Value* File::find(std::string_view key) const {
    for (const auto& [k, v] : metadata) {
        if (k == key) return &v;
    }
    return nullptr;
}

File parse(std::span<const uint8_t> bytes, const ReadOptions& options) {
    Cursor c(bytes);
    File file;
    file.size = bytes.size();
    c.need(4, "magic");
    if (std::memcmp(bytes.data(), "GGUF", 4) != 0) c.fail("not a GGUF file (the magic is not \"GGUF\")");
    c.read<uint32_t>("magic");
    file.version = c.read<uint32_t>("version");
    if ((file.version & 0xFFFF) == 0 && file.version != 0) c.fail("big-endian GGUF files are not supported");
    if (file.version < 2 || file.version > 3) c.fail("unsupported GGUF version " + std::to_string(file.version) + " (2 and 3 are)");

    auto tensor_count = c.read<uint64_t>("tensor count");
    auto kv_count = c.read<uint64_t>("metadata count");
    c.check_count(kv_count, 8 + 4 + 1, "metadata");  // key length, type, smallest value
    Limits limits{options.max_array_items, options.max_kept_items};
    std::unordered_set<std::string> keys;
    file.metadata.reserve(kv_count);
    for (uint64_t i = 0; i < kv_count; ++i) {
        auto key = c.string("metadata key");
        if (!keys.insert(key).second) c.fail("duplicate metadata key \"" + key + "\"");
        auto type = read_type(c, "metadata value type");
        file.metadata.emplace_back(std::move(key), read_value(c, type, limits, 0));
    }

    if (const auto* align = file.find("general.alignment")) {
        auto a = align->as_uint();
        if (!a || *a == 0 || (*a & (*a - 1)) != 0 || *a > (1u << 20)) c.fail("general.alignment must be a power of two");
        file.alignment = *a;
    }

    c.check_count(tensor_count, 8 + 4 + 8 + 4 + 8, "tensor");  // name length, n_dims, one dim, type, offset
    std::unordered_set<std::string> names;
    file.tensors.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) {
        TensorInfo t;
        t.name = c.string("tensor name");
        if (!names.insert(t.name).second) c.fail("duplicate tensor \"" + t.name + "\"");
        auto n_dims = c.read<uint32_t>("tensor dimension count");
        if (n_dims == 0 || n_dims > kMaxDims) c.fail("tensor \"" + t.name + "\" has " + std::to_string(n_dims) + " dimensions");
        uint64_t elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            auto dim = c.read<uint64_t>("tensor dimension");
            if (dim > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(elements, dim, &elements)) {
                c.fail("tensor \"" + t.name + "\" has an impossible size");
            }
            t.dims.push_back(dim);
        }
        t.type = c.read<uint32_t>("tensor type");
        const auto* type = ggml_type(t.type);
        if (!type) c.fail("tensor \"" + t.name + "\" has unknown ggml type " + std::to_string(t.type));
        if (t.dims[0] % type->block_size != 0) {
            c.fail("tensor \"" + t.name + "\" row of " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                   std::string(type->name) + " block size");
        }
        auto bytes_needed = ggml_row_bytes(*type, elements);
        if (!bytes_needed) c.fail("tensor \"" + t.name + "\" has an impossible size");
        t.bytes = *bytes_needed;
        t.offset = c.read<uint64_t>("tensor offset");
        if (t.offset % file.alignment != 0) c.fail("tensor \"" + t.name + "\" offset is not aligned");
        file.tensors.push_back(std::move(t));
    }

    uint64_t pos = c.position();
    file.data_offset = pos + (file.alignment - pos % file.alignment) % file.alignment;
    if (tensor_count > 0) c.skip_to(file.data_offset);
    for (const auto& t : file.tensors) {
        uint64_t end = 0;
        if (__builtin_add_overflow(file.data_offset, t.offset, &end) || __builtin_add_overflow(end, t.bytes, &end) || end > file.size) {
            throw FormatError("GGUF: the data of tensor \"" + t.name + "\" extends past the end of the file (" + std::to_string(file.size) +
                              " bytes): truncated?");
        }
    }
    return file;
}

File read_file(const std::filesystem::path& path, const ReadOptions& options) {
    Mapping mapping(path);
    try {
        return parse(mapping.bytes(), options);
    } catch (const FormatError& e) {
        throw FormatError(path.string() + ": " + e.what());
    }
}

}  // namespace corral::gguf
