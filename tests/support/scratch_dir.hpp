// A fresh directory for each test, under the system's temporary directory, removed after it.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

namespace corral::test {

class ScratchDirTest : public ::testing::Test {
protected:
    // `prefix` names the suite in the directory's name: <tmp>/<prefix>-<pid>-<test name>.
    explicit ScratchDirTest(std::string prefix) : prefix_(std::move(prefix)) {}

    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               (prefix_ + "-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path dir_;

private:
    std::string prefix_;
};

}  // namespace corral::test
