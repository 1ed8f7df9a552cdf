// A supervised server's last lines (what `corral logs` shows and follows): the newest kLines in
// order with their sequence numbers, after the buffer has wrapped, with lines longer and shorter
// than those they overwrite; followers are woken on every line.
#include "supervisor/instance.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include <string>

namespace corral::supervisor {
namespace {

std::string text_of(const LogBuffer& logs) {
    std::string out;
    for (std::size_t i = 0; i < logs.size(); ++i)
        out += std::to_string(logs.at(i).seq) + " " + logs.at(i).stream + " " + logs.at(i).text + "\n";
    return out;
}

TEST(LogBuffer, KeepsTheNewestLinesInOrderAsItWraps) {
    LogBuffer logs;
    EXPECT_EQ(logs.size(), 0u);
    logs.append("stdout", "first");
    logs.append("stderr", "second");
    EXPECT_EQ(text_of(logs), "0 stdout first\n1 stderr second\n");
    EXPECT_EQ(logs.next_seq(), 2u);

    const std::size_t total = 2 * LogBuffer::kLines + 3;  // wraps more than once
    for (std::size_t i = 2; i < total; ++i)
        logs.append(i % 2 ? "stderr" : "stdout", std::string(i % 7 == 0 ? 300 : 3, 'x') + std::to_string(i));
    ASSERT_EQ(logs.size(), LogBuffer::kLines);
    EXPECT_EQ(logs.next_seq(), total);
    for (std::size_t i = 0; i < logs.size(); ++i) {
        const auto seq = total - LogBuffer::kLines + i;
        ASSERT_EQ(logs.at(i).seq, seq) << i;
        EXPECT_EQ(logs.at(i).stream, seq % 2 ? "stderr" : "stdout");
        EXPECT_EQ(logs.at(i).text, std::string(seq % 7 == 0 ? 300 : 3, 'x') + std::to_string(seq));
    }
}

// Once full, a line reuses the storage of the one it overwrites, unless that one was much longer:
// a burst of long lines does not stay allocated in every slot it passed through.
TEST(LogBuffer, ALongLinesStorageIsNotKeptForShortOnes) {
    LogBuffer logs;
    const std::string typical(120, 't'), shorter(80, 's');  // both longer than a string's inline storage
    for (std::size_t i = 0; i < LogBuffer::kLines; ++i) logs.append("stdout", i == 0 ? std::string(64 * 1024, 'x') : typical);
    EXPECT_GE(logs.at(0).text.capacity(), 64u * 1024);
    const auto* reused = logs.at(1).text.data();
    logs.append("stdout", shorter);  // overwrites the long line
    EXPECT_LT(logs.at(LogBuffer::kLines - 1).text.capacity(), 1024u);
    logs.append("stdout", shorter);  // overwrites a typical one
    EXPECT_EQ(logs.at(LogBuffer::kLines - 1).text.data(), reused) << "kept storage, no allocation";
    EXPECT_EQ(logs.at(LogBuffer::kLines - 1).text, shorter);
}

TEST(LogBuffer, FollowersAreWokenOnEveryLine) {
    boost::asio::io_context io;
    LogBuffer logs;
    auto follower = std::make_shared<serve::AsyncSignal>(io.get_executor());
    logs.add_follower(follower);
    follower->rearm();
    EXPECT_FALSE(follower->notified());
    logs.append("stdout", "a line");
    EXPECT_TRUE(follower->notified());
    logs.remove_follower(follower);
    follower->rearm();
    logs.append("stdout", "another");
    EXPECT_FALSE(follower->notified());
}

}  // namespace
}  // namespace corral::supervisor
