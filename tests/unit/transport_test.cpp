// The runners' shared "transport" choice (plugin_common): the option's values, what counts as
// loopback, and when a start goes on a socket. Each runner's own reasons: server_socket_test.cpp
// (llama_server) and plugin/mock_runner_test.cpp (mock).
#include "transport.hpp"

#include <corral/sdk/error.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace corral::plugin_common {
namespace {

using ::testing::HasSubstr;

TEST(LoopbackHost, LoopbackAddressesAndNamesOnly) {
    for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) EXPECT_TRUE(is_loopback_host(host)) << host;
    for (const char* host : {"0.0.0.0", "10.0.0.1", "::", "example.org", ""}) EXPECT_FALSE(is_loopback_host(host)) << host;
}

TEST(Transport, TheOptionsValuesAndABadOneNamesItsPath) {
    EXPECT_EQ(parse_transport("auto", "p"), Transport::Auto);
    EXPECT_EQ(parse_transport("unix", "p"), Transport::Unix);
    EXPECT_EQ(parse_transport("tcp", "p"), Transport::Tcp);
    try {
        parse_transport("pipe", "options.transport");
        FAIL() << "no error";
    } catch (const sdk::JsonPathError& e) {
        EXPECT_THAT(e.what(), HasSubstr("options.transport: expected \"auto\", \"unix\" or \"tcp\", got \"pipe\""));
    }
}

TEST(Transport, ASocketWhereTheRunnerCanAndTheStartAsksForNoPortOnLoopback) {
    sdk::ServerConfig config;  // 127.0.0.1, no port
    EXPECT_TRUE(listens_on_unix_socket(Transport::Auto, config, ""));
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, "the runner cannot"));
    EXPECT_FALSE(listens_on_unix_socket(Transport::Tcp, config, ""));
    EXPECT_TRUE(listens_on_unix_socket(Transport::Unix, config, ""));
    config.host = "0.0.0.0";
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, ""));
    config.host = "127.0.0.1";
    config.port = 8080;
    EXPECT_FALSE(listens_on_unix_socket(Transport::Auto, config, ""));
    // "unix" where it cannot be: the runner's reason first, then the fixed port.
    try {
        listens_on_unix_socket(Transport::Unix, config, "the runner cannot");
        FAIL() << "no error";
    } catch (const sdk::Error& e) {
        EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
        EXPECT_STREQ(e.what(), "the runner cannot");
    }
    try {
        listens_on_unix_socket(Transport::Unix, config, "");
        FAIL() << "no error";
    } catch (const sdk::Error& e) {
        EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
        EXPECT_THAT(e.what(), HasSubstr("transport \"unix\" and a fixed port 8080 exclude each other"));
    }
}

}  // namespace
}  // namespace corral::plugin_common
