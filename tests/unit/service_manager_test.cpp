// systemd's notify protocol, against a datagram socket of the test's own (a path, and the abstract
// namespace): what corral says, and that the variable does not reach the model servers.
#include "serve/service_manager.hpp"

#include "notify_listener.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace corral::serve {
namespace {

using ::testing::MatchesRegex;

using Listener = test::NotifyListener;

TEST(ServiceManager, SaysReadyReloadingAndStoppingWithAStatusLine) {
    const auto path = (std::filesystem::temp_directory_path() / ("corral-notify-" + std::to_string(::getpid()))).string();
    Listener systemd(path);
    ASSERT_TRUE(systemd.bound());
    ServiceManager manager(path);
    EXPECT_TRUE(manager.enabled());
    manager.ready("serving 2 models\non http://127.0.0.1:8080");
    EXPECT_EQ(systemd.next(), "READY=1\nSTATUS=serving 2 models on http://127.0.0.1:8080");
    manager.reloading("reloading the configuration");
    EXPECT_THAT(systemd.next(), MatchesRegex("RELOADING=1\nMONOTONIC_USEC=[0-9]+\nSTATUS=reloading the configuration"));
    manager.stopping("draining");
    EXPECT_EQ(systemd.next(), "STOPPING=1\nSTATUS=draining");
}

TEST(ServiceManager, TheAbstractNamespaceWorksToo) {
    const std::string name = "@corral-notify-test-" + std::to_string(::getpid());
    Listener systemd(name);
    ASSERT_TRUE(systemd.bound());
    ServiceManager manager(name);
    manager.status("loading tiny-a");
    EXPECT_EQ(systemd.next(), "STATUS=loading tiny-a");
}

TEST(ServiceManager, NoSocketOrAGoneOneIsNoFailure) {
    ServiceManager none("");
    EXPECT_FALSE(none.enabled());
    EXPECT_FALSE(none.send("READY=1"));
    ServiceManager gone("/nonexistent/notify.sock");
    EXPECT_FALSE(gone.send("READY=1"));
    EXPECT_FALSE(gone.send("STOPPING=1"));  // logged once, still no exception
    ServiceManager bad("relative.sock");
    EXPECT_FALSE(bad.send("READY=1"));
}

TEST(ServiceManager, TheVariableIsTakenFromTheEnvironment) {
    ::setenv("NOTIFY_SOCKET", "@corral-x", 1);
    auto manager = ServiceManager::from_environment();
    EXPECT_TRUE(manager.enabled());
    EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);  // children started after this do not see it
    EXPECT_FALSE(ServiceManager::from_environment().enabled());
}

}  // namespace
}  // namespace corral::serve
