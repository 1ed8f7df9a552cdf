// The key corral sends to each model server: configured, or derived from a secret in the state dir.
#include "supervisor/server_key.hpp"
#include "scratch_dir.hpp"
#include "state/server_keys.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corral {
namespace {

namespace fs = std::filesystem;

sdk::ServerConfig with(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    sdk::ServerConfig s;
    s.extra_args = std::move(args);
    s.env = std::move(env);
    return s;
}

TEST(ServerKey, ConfiguredKeysAreFoundAsLlamaServerReadsThem) {
    using supervisor::configured_server_key;
    EXPECT_FALSE(configured_server_key(with({})));
    EXPECT_FALSE(configured_server_key(with({"--api-key"})));
    EXPECT_EQ(configured_server_key(with({"-c", "512", "--api-key", "k1,k2"})), "k1");
    EXPECT_EQ(configured_server_key(with({"--api-key=k3"})), "k3");
    EXPECT_EQ(configured_server_key(with({}, {{"LLAMA_API_KEY", "env-key"}})), "env-key");
    EXPECT_EQ(configured_server_key(with({"--api-key", "arg"}, {{"LLAMA_API_KEY", "env"}})), "arg");
    auto per_model = with({});
    per_model.runner_options = {{"extra_args", {"--api-key", "runner-arg"}}};
    EXPECT_EQ(configured_server_key(per_model), "runner-arg");
    per_model.runner_options = {{"env", {{"LLAMA_API_KEY", "runner-env"}}}};
    EXPECT_EQ(configured_server_key(per_model), "runner-env");

    const auto file = fs::temp_directory_path() / ("corral-key-" + std::to_string(::getpid()));
    std::ofstream(file) << "\n  \nfile-key\nsecond\n";
    EXPECT_EQ(configured_server_key(with({"--api-key-file", file.string()})), "file-key");
    EXPECT_EQ(configured_server_key(with({"--api-key-file=" + file.string()})), "file-key");
    fs::remove(file);
}

class ServerKeysDir : public test::ScratchDirTest {
protected:
    ServerKeysDir() : ScratchDirTest("corral-server-keys") {}
};

TEST_F(ServerKeysDir, KeysAreStablePerInstanceAndSecretPerStateDir) {
    state::ServerKeys keys(dir_);
    const auto a = keys.key_for("tiny-a.0123456789ab.1-1");
    EXPECT_EQ(a.size(), 64u);
    EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_NE(a, keys.key_for("tiny-a.0123456789ab.1-2"));
    // A restarted host (same state dir) derives the same key for a server it adopts.
    EXPECT_EQ(state::ServerKeys(dir_).key_for("tiny-a.0123456789ab.1-1"), a);

    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "server-keys.secret").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    const auto other = dir_ / "other";
    fs::create_directories(other);
    EXPECT_NE(state::ServerKeys(other).key_for("tiny-a.0123456789ab.1-1"), a);
}

TEST_F(ServerKeysDir, RefusesASecretOthersCanReadOrASymlink) {
    { state::ServerKeys keys(dir_); }
    const auto secret = dir_ / "server-keys.secret";
    fs::permissions(secret, fs::perms::owner_read | fs::perms::group_read);
    EXPECT_THROW(state::ServerKeys{dir_}, std::runtime_error);

    const auto linked = dir_ / "linked";
    fs::create_directories(linked);
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    fs::create_symlink(secret, linked / "server-keys.secret");
    EXPECT_THROW(state::ServerKeys{linked}, std::runtime_error);

    const auto short_one = dir_ / "short";
    fs::create_directories(short_one);
    std::ofstream(short_one / "server-keys.secret") << "tiny";
    fs::permissions(short_one / "server-keys.secret", fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_THROW(state::ServerKeys{short_one}, std::runtime_error);
}

}  // namespace
}  // namespace corral
