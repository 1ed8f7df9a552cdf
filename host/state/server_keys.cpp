#include "state/server_keys.hpp"

#include "crypto/sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace corral::state {
namespace {

constexpr std::size_t kSecretBytes = 32;

std::runtime_error failure(const std::filesystem::path& path, const std::string& what) {
    return std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

std::string read_secret(int fd, const std::filesystem::path& path) {
    std::string secret(kSecretBytes, '\0');
    std::size_t got = 0;
    while (got < kSecretBytes) {
        ssize_t n = ::read(fd, secret.data() + got, kSecretBytes - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got != kSecretBytes) throw std::runtime_error(path.string() + " is not a server key secret (" + std::to_string(got) + " bytes)");
    return secret;
}

}  // namespace

ServerKeys::ServerKeys(const std::filesystem::path& state_dir) {
    const auto path = state_dir / "server-keys.secret";
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        std::array<char, kSecretBytes> bytes{};
        if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) throw failure(path, "no random bytes for");
        const std::string tmp = path.string() + ".tmp";
        ::unlink(tmp.c_str());
        int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0) throw failure(tmp, "cannot create");
        const bool written = ::write(out, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) && ::fsync(out) == 0;
        ::close(out);
        if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) throw failure(path, "cannot write");
        fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) throw failure(path, "cannot open");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        ::close(fd);
        throw std::runtime_error(path.string() + " must be a regular file readable by its owner only (chmod 600)");
    }
    try {
        secret_ = read_secret(fd, path);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
}

std::string ServerKeys::key_for(const std::string& instance_id) const {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int size = 0;
    if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()), reinterpret_cast<const unsigned char*>(instance_id.data()),
              instance_id.size(), mac.data(), &size)) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return crypto::to_hex(std::span(mac.data(), size));
}

}  // namespace corral::state
