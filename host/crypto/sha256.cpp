#include "crypto/sha256.hpp"

#include <openssl/evp.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace corral::crypto {

struct Sha256::Context {
    struct Free {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, Free> ctx{EVP_MD_CTX_new()};

    void reset() {
        if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
            throw std::runtime_error("SHA-256: OpenSSL could not start a digest");
    }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
    context_->reset();
}
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size) {
    if (size && EVP_DigestUpdate(context_->ctx.get(), data, size) != 1) throw std::runtime_error("SHA-256: OpenSSL digest update failed");
}

Sha256Digest Sha256::finish() {
    Sha256Digest out{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(context_->ctx.get(), out.data(), &size) != 1 || size != out.size()) {
        throw std::runtime_error("SHA-256: OpenSSL digest failed");
    }
    context_->reset();
    return out;
}

Sha256Digest sha256_of(std::string_view bytes) {
    Sha256 h;
    h.update(bytes);
    return h.finish();
}

void sha256_update_from_file(Sha256& hasher, const std::filesystem::path& path, std::optional<std::uintmax_t> length) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot read " + path.string());
    struct Close {
        int fd;
        ~Close() { ::close(fd); }
    } closer{fd};
    std::vector<char> buffer(1 << 20);
    std::uintmax_t left = length.value_or(UINTMAX_MAX);
    while (left > 0) {
        const auto want = static_cast<std::size_t>(std::min<std::uintmax_t>(left, buffer.size()));
        const auto got = ::read(fd, buffer.data(), want);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "cannot read " + path.string());
        }
        if (got == 0) {
            if (length) throw std::system_error(std::make_error_code(std::errc::io_error), path.string() + " is shorter than expected");
            break;
        }
        hasher.update(buffer.data(), static_cast<std::size_t>(got));
        left -= static_cast<std::uintmax_t>(got);
    }
}

std::string to_hex(std::span<const unsigned char> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::optional<std::string> normalized_sha256_hex(std::string_view text) {
    if (text.size() != 64) return std::nullopt;
    std::string out(text);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
    }
    return out;
}

}  // namespace corral::crypto
