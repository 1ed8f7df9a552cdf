// main() of the in-process integration suites (the runner plugins loaded into the test): gtest's,
// with corral's log of a test printed only when it fails (held_log.hpp); --verbose streams it all.
#include "held_log.hpp"

#include <gtest/gtest.h>

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    corral::test::hold_logs_unless_verbose(argc, argv);
    return RUN_ALL_TESTS();
}
