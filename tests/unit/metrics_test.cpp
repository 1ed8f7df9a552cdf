// Prometheus text from the metrics registry: bucket bounds and sums as the shortest exact numbers.
#include "admin/metrics.hpp"

#include <gtest/gtest.h>

namespace corral::admin {
namespace {

TEST(Metrics, BucketBoundsReadAsWritten) {
    Metrics m;
    m.request("m", "/v1/chat/completions", 200, 0.25);
    const auto text = m.render({}, {}, 0, 0);
    EXPECT_NE(text.find("le=\"0.005\""), std::string::npos) << text;
    EXPECT_EQ(text.find("0.0050000000000000001"), std::string::npos) << text;
    EXPECT_NE(text.find("corral_request_duration_seconds_sum{model=\"m\"} 0.25"), std::string::npos) << text;
}

TEST(Metrics, TheLedgerPerMachineAndDevice) {
    Metrics m;
    const auto text = m.render({}, {{"local", "cuda:0", 8ull << 30, 6ull << 30}, {"box2", "ram", 0, 1024}}, 0, 0);
    EXPECT_NE(text.find("corral_device_memory_reserved_bytes{machine=\"local\",device=\"cuda:0\"} 6442450944"), std::string::npos) << text;
    EXPECT_NE(text.find("corral_device_memory_capacity_bytes{machine=\"local\",device=\"cuda:0\"} 8589934592"), std::string::npos);
    EXPECT_NE(text.find("corral_device_memory_reserved_bytes{machine=\"box2\",device=\"ram\"} 1024"), std::string::npos);
}

}  // namespace
}  // namespace corral::admin
