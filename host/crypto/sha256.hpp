// SHA-256 through OpenSSL's EVP interface: all at once, or fed piece by piece while a file streams in.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace corral::crypto {

using Sha256Digest = std::array<unsigned char, 32>;

class Sha256 {
public:
    Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    ~Sha256();

    void update(const void* data, std::size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
    // The digest of everything fed so far; the hasher starts over afterwards.
    Sha256Digest finish();

private:
    struct Context;
    std::unique_ptr<Context> context_;
};

Sha256Digest sha256_of(std::string_view bytes);
// Feeds the first `length` bytes of the file (all of it when nullopt). Throws std::system_error
// when it cannot be read, or ends before `length`.
void sha256_update_from_file(Sha256& hasher, const std::filesystem::path& path, std::optional<std::uintmax_t> length = std::nullopt);

// Lower-case hex of any bytes (a digest, a MAC).
std::string to_hex(std::span<const unsigned char> bytes);
// 64 hex digits (either case) as lower case; nullopt for anything else.
std::optional<std::string> normalized_sha256_hex(std::string_view text);

}  // namespace corral::crypto
