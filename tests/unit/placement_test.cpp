// The placement core: machines, devices, the ledger and eviction, decided without I/O.
#include "scheduler/placement.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace corral::scheduler {
namespace {

using clock = std::chrono::steady_clock;
using Kind = Plan::Kind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using Mode = DeviceRequest::Mode;

constexpr uint64_t GiB = 1ull << 30;

DeviceSlot gpu(int index, uint64_t gib, std::string uuid = "") {
    DeviceSlot d;
    d.id = "cuda:" + std::to_string(index);
    d.kind = "cuda";
    d.index = index;
    d.name = "GPU " + std::to_string(index);
    d.uuid = uuid.empty() ? "GPU-" + std::to_string(index) + "0000000-aaaa-bbbb-cccc-dddddddddddd" : uuid;
    d.memory_total = gib * GiB;
    d.capacity = gib * GiB;
    return d;
}

// A box with GPUs of 8, 24 and 24 GiB and 64 GiB of RAM.
Machine box(std::string name = "local") {
    Machine m;
    m.name = std::move(name);
    m.devices = {gpu(0, 8), gpu(1, 24), gpu(2, 24)};
    m.ram_total = 64 * GiB;
    m.ram_capacity = 64 * GiB;
    return m;
}

Machine cpu_only(std::optional<uint64_t> ram_gib) {
    Machine m;
    m.name = "local";
    if (ram_gib) m.ram_capacity = *ram_gib * GiB;
    return m;
}

Demand demand(uint64_t gib, DeviceRequest devices = {}, bool partial = true) {
    return {"new", gib * GiB, 0, std::move(devices), partial};
}

DeviceRequest pin(std::vector<std::string> selectors) {
    return {Mode::Pinned, std::move(selectors)};
}

// A resident `age` seconds since its last use, holding `gib` on `device` ("ram" for RAM).
Resident on(std::string name, std::string device, uint64_t gib, bool idle, int age, std::string machine = "local", bool stopping = false) {
    Resident r;
    r.name = std::move(name);
    r.reservation.machine = std::move(machine);
    if (device == "ram")
        r.reservation.ram = gib * GiB;
    else
        r.reservation.devices.push_back({device, gib * GiB});
    r.idle = idle;
    r.stopping = stopping;
    r.last_used = clock::time_point{} + std::chrono::seconds(1000 - age);
    return r;
}

TEST(Placement, OneGpuWhenOneHoldsItTheFullestThatDoes) {
    // 6 GiB fits the 8 GiB GPU: best fit keeps the big ones free for big models.
    auto plan = plan_placement(box(), {}, demand(6), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:0", 6 * GiB)));
    EXPECT_EQ(plan.reservation.ram, 0u);
    EXPECT_EQ(plan.reservation.machine, "local");

    plan = plan_placement(box(), {}, demand(20), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:1", 20 * GiB)));
}

TEST(Placement, TwoModelsThatFitDifferentGpusLoadTogether) {
    auto plan = plan_placement(box(), {on("a", "cuda:1", 20, false, 1)}, demand(20), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:2", 20 * GiB)));
    // The partly used GPU is the best fit when it still holds the model.
    plan = plan_placement(box(), {on("a", "cuda:1", 10, false, 1)}, demand(12), {});
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:1", 12 * GiB)));
}

TEST(Placement, AModelTooBigForAnyOneGpuIsSplitOverTheFewestInProportionToFreeMemory) {
    auto plan = plan_placement(box(), {}, demand(40), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:1", 20 * GiB), Pair("cuda:2", 20 * GiB)));
    EXPECT_THAT(plan.reason, HasSubstr("split over 2"));

    // Unequal free memory: shares follow it, and each extra device costs the per-device overhead.
    auto d = demand(30);
    d.per_device_overhead = 1 * GiB;
    plan = plan_placement(box(), {on("a", "cuda:2", 12, false, 1)}, d, {});
    ASSERT_EQ(plan.kind, Kind::Place);
    ASSERT_EQ(plan.reservation.devices.size(), 2u);
    EXPECT_EQ(plan.reservation.total(), 31 * GiB);
    EXPECT_EQ(plan.reservation.devices[0].first, "cuda:1");
    EXPECT_EQ(plan.reservation.devices[1].first, "cuda:2");
    EXPECT_NEAR(static_cast<double>(plan.reservation.devices[0].second), 31.0 * GiB * 24 / 36, 1.0);
    EXPECT_LE(plan.reservation.devices[1].second, 12 * GiB);

    // Three GPUs when two are not enough.
    plan = plan_placement(box(), {}, demand(52), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_EQ(plan.reservation.devices.size(), 3u);
    EXPECT_EQ(plan.reservation.total(), 52 * GiB);
}

TEST(Placement, ANewcomerEvictsOnlyOnTheGpuItNeeds) {
    // Every GPU is taken by an idle model; the 20 GiB model can only go on a 24 GiB GPU: the least
    // recently used of those two goes, the older model on the 8 GiB GPU stays.
    std::vector<Resident> residents = {on("small", "cuda:0", 7, true, 500), on("b", "cuda:1", 20, true, 100),
                                       on("c", "cuda:2", 20, true, 50)};
    auto plan = plan_placement(box(), residents, demand(20), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("b"));
}

TEST(Placement, EvictionKeepsWhomeverItDidNotNeed) {
    // The oldest idle model sits on cuda:1 but does not free enough there; evicting c on cuda:2
    // alone is enough, so only c goes.
    std::vector<Resident> residents = {on("a", "cuda:1", 4, true, 300), on("busy", "cuda:1", 18, false, 1),
                                       on("c", "cuda:2", 20, true, 10)};
    auto plan = plan_placement(box(), residents, demand(20), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("c"));
}

TEST(Placement, NeverEvictsABusyInstance) {
    std::vector<Resident> residents = {on("b", "cuda:1", 20, false, 100), on("c", "cuda:2", 20, false, 50)};
    auto plan = plan_placement(box(), residents, demand(20), {});
    EXPECT_EQ(plan.kind, Kind::Wait);
    EXPECT_TRUE(plan.evict.empty());
    EXPECT_THAT(plan.reason, HasSubstr("busy"));
}

TEST(Placement, WaitsForInstancesAlreadyStopping) {
    std::vector<Resident> residents = {on("b", "cuda:1", 20, true, 100, "local", true), on("c", "cuda:2", 20, false, 50)};
    auto plan = plan_placement(box(), residents, demand(20), {});
    EXPECT_EQ(plan.kind, Kind::Wait);
    EXPECT_THAT(plan.reason, HasSubstr("stop"));
}

TEST(Placement, APinnedModelGoesOnItsDevicesAndEvictsOnlyThere) {
    auto plan = plan_placement(box(), {}, demand(6, pin({"cuda:2"})), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:2", 6 * GiB)));

    // cuda:1 is free and older models are elsewhere: only the model on cuda:2 is evicted.
    std::vector<Resident> residents = {on("old", "cuda:0", 7, true, 900), on("c", "cuda:2", 20, true, 10)};
    plan = plan_placement(box(), residents, demand(6, pin({"cuda:2"})), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("c"));

    // Busy there: it waits, even with room on other GPUs.
    residents = {on("c", "cuda:2", 20, false, 10)};
    EXPECT_EQ(plan_placement(box(), residents, demand(6, pin({"cuda:2"})), {}).kind, Kind::Wait);
}

TEST(Placement, APinToSeveralGpusSplitsOverThem) {
    auto plan = plan_placement(box(), {}, demand(30, pin({"cuda:2", "cuda:0"})), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    ASSERT_EQ(plan.reservation.devices.size(), 2u);
    EXPECT_EQ(plan.reservation.devices[0].first, "cuda:0");  // machine order: the server numbers them so
    EXPECT_EQ(plan.reservation.devices[1].first, "cuda:2");
    EXPECT_EQ(plan.reservation.total(), 30 * GiB);
}

TEST(Placement, PinsNameDevicesByIdOrUuidPrefix) {
    auto m = box();
    m.devices[1].uuid = "GPU-8f3c1111-0000-0000-0000-000000000000";
    m.devices[2].uuid = "GPU-8f3c2222-0000-0000-0000-000000000000";
    auto resolved = resolve_devices(m, {"GPU-8f3c2"});
    ASSERT_TRUE(std::holds_alternative<std::vector<std::size_t>>(resolved));
    EXPECT_THAT(std::get<std::vector<std::size_t>>(resolved), ElementsAre(2));
    EXPECT_THAT(std::get<std::vector<std::size_t>>(resolve_devices(m, {"8F3C1"})), ElementsAre(1));
    EXPECT_THAT(std::get<std::vector<std::size_t>>(resolve_devices(m, {"CUDA:0", "cuda:0"})), ElementsAre(0));

    auto ambiguous = resolve_devices(m, {"GPU-8f3c"});
    ASSERT_TRUE(std::holds_alternative<std::string>(ambiguous));
    EXPECT_THAT(std::get<std::string>(ambiguous), HasSubstr("several"));

    auto plan = plan_placement(m, {}, demand(1, pin({"cuda:7"})), {});
    EXPECT_EQ(plan.kind, Kind::Impossible);
    EXPECT_THAT(plan.reason, HasSubstr("\"cuda:7\" is no device of machine local"));
    EXPECT_THAT(plan.reason, HasSubstr("cuda:2 (GPU-8f3c2222"));
    EXPECT_EQ(plan_placement(cpu_only(16), {}, demand(1, pin({"cuda:0"})), {}).kind, Kind::Impossible);
}

TEST(Placement, CpuModelsReserveRamAndEvictOnlyFromRam) {
    std::vector<Resident> residents = {on("gpu-model", "cuda:1", 20, true, 900), on("cpu-old", "ram", 40, true, 100)};
    auto plan = plan_placement(box(), residents, demand(30, {Mode::Cpu, {}}), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("cpu-old"));

    plan = plan_placement(box(), {on("gpu-model", "cuda:1", 20, true, 900)}, demand(30, {Mode::Cpu, {}}), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_TRUE(plan.reservation.devices.empty());
    EXPECT_EQ(plan.reservation.ram, 30 * GiB);
}

TEST(Placement, AMachineWithoutGpusPlacesInRam) {
    EXPECT_EQ(plan_placement(cpu_only(100), {on("a", "ram", 50, true, 5)}, demand(50), {}).kind, Kind::Place);
    auto plan = plan_placement(cpu_only(100), {on("a", "ram", 40, true, 30), on("b", "ram", 40, true, 20), on("c", "ram", 10, true, 10)},
                               demand(70), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("a", "b"));
    // Without a known RAM size nothing limits it but max_loaded.
    EXPECT_EQ(plan_placement(cpu_only(std::nullopt), {on("a", "ram", 500, true, 5)}, demand(500), {}).kind, Kind::Place);
}

TEST(Placement, AModelBiggerThanTheMachineLoadsAlone) {
    auto plan = plan_placement(cpu_only(100), {}, demand(200), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_EQ(plan.reservation.ram, 100 * GiB);
    plan = plan_placement(cpu_only(100), {on("a", "ram", 10, true, 5), on("b", "ram", 10, true, 9)}, demand(200), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("b", "a"));
    EXPECT_EQ(plan_placement(cpu_only(100), {on("busy", "ram", 10, false, 5)}, demand(200), {}).kind, Kind::Wait);
}

TEST(Placement, PartialOffloadTakesTheGpusWholeAndPutsTheRestInRam) {
    auto plan = plan_placement(box(), {}, demand(70), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:0", 8 * GiB), Pair("cuda:1", 24 * GiB), Pair("cuda:2", 24 * GiB)));
    EXPECT_EQ(plan.reservation.ram, 14 * GiB);
    EXPECT_THAT(plan.reason, HasSubstr("partial offload"));

    // It needs every GPU empty: idle ones go, RAM-only models stay when RAM still holds the rest.
    std::vector<Resident> residents = {on("a", "cuda:0", 4, true, 50), on("cpu", "ram", 10, true, 900)};
    plan = plan_placement(box(), residents, demand(70), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("a"));

    // gpu_layers "all": no RAM share.
    plan = plan_placement(box(), {}, demand(70, {}, false), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_EQ(plan.reservation.ram, 0u);
    EXPECT_EQ(plan.reservation.total(), 56 * GiB);
}

TEST(Placement, AnotherMachinesModelsAreUntouched) {
    // A remote box is full of idle models; the local model places on the local GPUs without evicting.
    std::vector<Resident> residents = {on("r1", "cuda:1", 24, true, 900, "box2"), on("r2", "cuda:2", 24, true, 800, "box2")};
    auto plan = plan_placement(box(), residents, demand(20), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_THAT(plan.reservation.devices, ElementsAre(Pair("cuda:1", 20 * GiB)));

    // And the other way round: a model for box2 evicts there only.
    residents.push_back(on("local-old", "cuda:1", 24, true, 5000));
    plan = plan_placement(box("box2"), residents, demand(20), {});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("r1"));
}

TEST(Placement, MaxLoadedCountsEveryMachine) {
    std::vector<Resident> residents = {on("remote", "cuda:1", 1, true, 900, "box2"), on("local", "cuda:1", 1, true, 5)};
    auto plan = plan_placement(box(), residents, demand(1), {2});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("remote"));
    EXPECT_EQ(plan_placement(box(), {on("busy", "ram", 1, false, 5)}, demand(1), {1}).kind, Kind::Wait);
    EXPECT_EQ(plan_placement(box(), {}, demand(1), {0}).kind, Kind::Wait);
}

TEST(Placement, AMachineThatWentAwayHoldsNothingHere) {
    // Instances still recorded on a machine no runner places on any more (a reload removed it) take
    // no room on this one; they count against max_loaded until they are gone, and may be evicted for it.
    std::vector<Resident> residents = {on("orphan", "cuda:1", 24, true, 10, "gone"), on("orphan-2", "cuda:2", 24, false, 5, "gone")};
    auto plan = plan_placement(box(), residents, demand(40), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_EQ(plan.reservation.devices.size(), 2u);
    plan = plan_placement(box(), residents, demand(40), {2});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_THAT(plan.evict, ElementsAre("orphan"));
}

TEST(Placement, CapacityManagedElsewhereTakesNoLedgerSpace) {
    Machine cluster;
    cluster.name = "slurm";
    cluster.managed_elsewhere = true;
    std::vector<Resident> residents = {on("a", "ram", 0, true, 5, "slurm")};
    auto plan = plan_placement(cluster, residents, demand(5000), {});
    ASSERT_EQ(plan.kind, Kind::Place);
    EXPECT_EQ(plan.reservation.total(), 0u);
    EXPECT_EQ(plan.reservation.machine, "slurm");
}

TEST(Placement, TheOverallBudgetCapsDevicesAndRamTogether) {
    auto m = box();
    m.overall_cap = 30 * GiB;
    std::vector<Resident> residents = {on("a", "cuda:1", 20, true, 100)};
    auto plan = plan_placement(m, residents, demand(20), {});
    ASSERT_EQ(plan.kind, Kind::Evict);  // cuda:2 is free, but the cap is not
    EXPECT_THAT(plan.evict, ElementsAre("a"));
    EXPECT_EQ(plan_placement(m, {on("a", "cuda:1", 5, true, 100)}, demand(20), {}).kind, Kind::Place);
}

TEST(Placement, TheLedgerSumsReservationsPerDeviceOfOneMachine) {
    std::vector<Resident> residents = {on("a", "cuda:1", 3, true, 1), on("b", "cuda:1", 4, true, 1), on("c", "ram", 5, true, 1),
                                       on("d", "cuda:1", 9, true, 1, "box2")};
    auto l = ledger_of(box(), residents);
    EXPECT_THAT(l.device_reserved, ElementsAre(0u, 7 * GiB, 0u));
    EXPECT_EQ(l.ram_reserved, 5 * GiB);
    EXPECT_EQ(l.total_reserved, 12 * GiB);
}

}  // namespace
}  // namespace corral::scheduler
