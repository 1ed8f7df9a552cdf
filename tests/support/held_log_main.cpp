// main() of the in-process integration suites (the runner plugins loaded into the test): gtest's,
// with corral's log of a test printed only when it fails (held_log.hpp); --verbose streams it all.
#include "held_log.hpp"

#include <gtest/gtest.h>

#include <cstring>

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    bool verbose = false;
    for (int i = 1; i < argc; ++i) verbose = verbose || std::strcmp(argv[i], "--verbose") == 0;
    if (!verbose) corral::test::hold_logs_until_a_test_fails();
    return RUN_ALL_TESTS();
}
