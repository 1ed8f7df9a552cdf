// The single-instance lock of `corral serve`.
#include "state/instance_lock.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corral::state {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path fresh_dir(const std::string& name) {
    auto dir = fs::temp_directory_path() / ("corral-lock-test-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(dir);
    return dir;
}

std::string error_of(const fs::path& dir) {
    try {
        InstanceLock lock(dir);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

TEST(InstanceLock, SecondHolderIsRefusedWithTheFirstOnesPid) {
    auto dir = fresh_dir("second");
    {
        InstanceLock first(dir);
        std::ifstream in(first.path());
        std::string pid;
        in >> pid;
        EXPECT_EQ(pid, std::to_string(::getpid()));
        // flock locks belong to the open file description: a second open in the same process conflicts too.
        EXPECT_THAT(error_of(dir), HasSubstr("another corral serve (pid " + std::to_string(::getpid()) + ")"));
    }
    EXPECT_EQ(error_of(dir), "") << "released when its holder goes";
    fs::remove_all(dir);
}

TEST(InstanceLock, RefusesASymlinkedLockFile) {
    auto dir = fresh_dir("symlink");
    fs::create_directories(dir);
    std::ofstream(dir / "victim") << "precious";
    fs::create_symlink(dir / "victim", dir / "corral.lock");
    EXPECT_THAT(error_of(dir), HasSubstr("symbolic link"));
    std::ifstream in(dir / "victim");
    std::string text;
    in >> text;
    EXPECT_EQ(text, "precious");
    fs::remove_all(dir);
}

}  // namespace
}  // namespace corral::state
