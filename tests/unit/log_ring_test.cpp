// The last lines of a server's output that a runner keeps for its error messages: the newest N, in
// order, after the ring has wrapped any number of times and with lines longer and shorter than the
// ones they overwrite.
#include "log_ring.hpp"
#include "start_signal.hpp"

#include <gtest/gtest.h>

#include <string>

namespace corral::plugin_common {
namespace {

TEST(LogRing, KeepsTheLastLinesInOrderAsItWraps) {
    LogRing ring(3);
    EXPECT_EQ(ring.tail(5), "");
    ring.push("one");
    ring.push("two");
    EXPECT_EQ(ring.tail(5), "one\ntwo");
    EXPECT_EQ(ring.tail(1), "two");
    ring.push("three");
    ring.push(std::string(300, 'x'));  // overwrites "one" with a longer line
    EXPECT_EQ(ring.tail(3), "two\nthree\n" + std::string(300, 'x'));
    for (int i = 0; i < 10; ++i) ring.push("line " + std::to_string(i));  // wraps three more times, shorter lines
    EXPECT_EQ(ring.tail(3), "line 7\nline 8\nline 9");
    EXPECT_EQ(ring.tail(2), "line 8\nline 9");
    EXPECT_TRUE(ring.contains("line 7"));
    EXPECT_FALSE(ring.contains("line 6"));
    EXPECT_FALSE(ring.contains(std::string(300, 'x')));
}

// A burst of long lines does not leave every slot it passed through holding its storage.
TEST(LogRing, ALongLinesStorageIsNotKeptForShortOnes) {
    LogRing ring(2);
    ring.push("a");
    ring.push("b");
    ring.push(std::string(64 * 1024, 'x'));
    ring.push("c");
    EXPECT_GE(ring.bytes_held(), 64u * 1024);
    ring.push("d");  // overwrites the long line
    EXPECT_EQ(ring.tail(2), "c\nd");
    EXPECT_LT(ring.bytes_held(), 1024u);
}

TEST(LogRing, AZeroCapacityKeepsTheLastLine) {
    LogRing ring(0);
    ring.push("a");
    ring.push("b");
    EXPECT_EQ(ring.tail(3), "b");
}

// The runners keep lines only while a start can still fail: a Ready start ends that, an exit
// (whose last lines the error quotes) or a timeout does not.
TEST(StartSignal, OnlyAReadyStartEndsTheLinesKeptForAFailedOne) {
    StartSignal ready, exited, timed_out;
    EXPECT_FALSE(ready.ready());
    ready.settle({StartOutcome::Kind::Ready, {}});
    EXPECT_TRUE(ready.ready());
    ready.settle({StartOutcome::Kind::Exited, {}});  // the first outcome stands
    EXPECT_TRUE(ready.ready());
    exited.settle({StartOutcome::Kind::Exited, {}});
    EXPECT_TRUE(exited.settled());
    EXPECT_FALSE(exited.ready());
    timed_out.settle({StartOutcome::Kind::TimedOut, {}});
    EXPECT_FALSE(timed_out.ready());
}

}  // namespace
}  // namespace corral::plugin_common
