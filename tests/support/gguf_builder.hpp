// Builds GGUF images in memory for tests of the reader and the fitting (header-only).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace corral::test {

class GgufBuilder {
public:
    enum Type : uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 };

    GgufBuilder& kv_u32(const std::string& key, uint32_t v) { return key_header(key, U32).put(v); }
    GgufBuilder& kv_i32(const std::string& key, int32_t v) { return key_header(key, I32).put(v); }
    GgufBuilder& kv_str(const std::string& key, const std::string& v) { return key_header(key, STRING).str(v); }
    GgufBuilder& kv_u32_array(const std::string& key, const std::vector<uint32_t>& v) {
        key_header(key, ARRAY).put(uint32_t{U32}).put(uint64_t{v.size()});
        for (auto x : v) put(x);
        return *this;
    }
    // Raw bytes appended to the metadata (for hostile values): counts the key/value pair.
    GgufBuilder& kv_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& value) {
        key_header(key, type);
        meta_.insert(meta_.end(), value.begin(), value.end());
        return *this;
    }
    // A tensor of `type` (ggml id) with `bytes` of data.
    GgufBuilder& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t bytes) {
        tensors_.push_back({name, std::move(dims), type, bytes});
        return *this;
    }

    std::vector<uint8_t> build(uint32_t alignment = 32) const {
        std::vector<uint8_t> out;
        auto raw = [&](const void* p, std::size_t n) {
            out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
        };
        auto u32 = [&](uint32_t v) { raw(&v, 4); };
        auto u64 = [&](uint64_t v) { raw(&v, 8); };
        raw("GGUF", 4);
        u32(3);
        u64(tensors_.size());
        u64(kv_count_);
        out.insert(out.end(), meta_.begin(), meta_.end());
        uint64_t offset = 0;
        for (const auto& t : tensors_) {
            u64(t.name.size());
            raw(t.name.data(), t.name.size());
            u32(static_cast<uint32_t>(t.dims.size()));
            for (auto d : t.dims) u64(d);
            u32(t.type);
            u64(offset);
            offset += (t.bytes + alignment - 1) / alignment * alignment;
        }
        while (out.size() % alignment) out.push_back(0);
        out.resize(out.size() + offset, 0);
        return out;
    }

private:
    struct Tensor {
        std::string name;
        std::vector<uint64_t> dims;
        uint32_t type;
        uint64_t bytes;
    };
    template <class T>
    GgufBuilder& put(T v) {
        auto p = reinterpret_cast<const uint8_t*>(&v);
        meta_.insert(meta_.end(), p, p + sizeof v);
        return *this;
    }
    GgufBuilder& str(const std::string& s) {
        put(uint64_t{s.size()});
        meta_.insert(meta_.end(), s.begin(), s.end());
        return *this;
    }
    GgufBuilder& key_header(const std::string& key, uint32_t type) {
        ++kv_count_;
        return str(key).put(type);
    }

    std::vector<uint8_t> meta_;
    std::vector<Tensor> tensors_;
    uint64_t kv_count_ = 0;
};

}  // namespace corral::test
