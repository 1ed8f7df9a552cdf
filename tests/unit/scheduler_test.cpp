// The scheduler's decisions with GoogleMock runners: which server starts where, which is evicted,
// what waits. The real scheduler and supervisor run on an io_context of the test; the runners answer
// at once, so each case takes milliseconds and nothing depends on timing.
#include "scheduler/scheduler.hpp"

#include "mock_process_runner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>

#include <unistd.h>
#include <filesystem>
#include <future>
#include <mutex>

namespace corral::scheduler {
namespace {

namespace asio = boost::asio;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::NiceMock;
using ::testing::Return;

constexpr uint64_t GiB = 1ull << 30;

using MockRunner = test::MockProcessRunner;
using test::cuda_report;

class SchedulerTest : public ::testing::Test {
protected:
    SchedulerTest() {
        supervisor_.set_listener([this](const std::shared_ptr<supervisor::Instance>& i) { scheduler_.on_instance_changed(i); });
        local_ = add_runner("local");
        remote_ = add_runner("box2");
        for (auto* r : {local_, remote_}) {
            ON_CALL(*r, start(_)).WillByDefault([this, r](const sdk::ServerConfig& c) {
                std::lock_guard lock(mutex_);
                started_.push_back(c);
                return sdk::ProcessHandle{
                    c.instance_id, c.model_name, r == local_ ? "local" : "box2", std::nullopt, "http://127.0.0.1:9", 0, {}};
            });
            ON_CALL(*r, stop(_, _)).WillByDefault([this](const sdk::ProcessHandle& h, std::chrono::milliseconds) {
                std::lock_guard lock(mutex_);
                stopped_.push_back(h.model_name);
            });
            ON_CALL(*r, health(_)).WillByDefault(Return(sdk::ServerHealth{sdk::HealthState::Ok, 200, ""}));
        }
    }

    ~SchedulerTest() override {
        scheduler_.shutdown();
        run_until([&] { return scheduler_.all_stopped(); });
        workers_.join();
        std::filesystem::remove_all(state_dir_);
    }

    // The slot owns its runner; the fixture keeps a pointer to set expectations.
    NiceMock<MockRunner>* add_runner(const std::string& name) {
        auto slot = std::make_shared<supervisor::RunnerSlot>();
        slot->name = name;
        slot->plugin = "gmock";
        auto runner = std::make_unique<NiceMock<MockRunner>>();
        auto* raw = runner.get();
        slot->runner = std::move(runner);
        runners_.add(slot);
        return raw;
    }

    // A local box with GPUs of 8, 24 and 24 GiB, and box2, a remote machine with one 24 GiB GPU.
    void configure(std::vector<config::ModelConfig> models, std::optional<int32_t> max_loaded = std::nullopt) {
        config::Config c;
        c.runners = {{"local", "gmock", {}}, {"box2", "gmock", {}}};
        c.models = std::move(models);
        c.scheduler = scheduling_;
        c.scheduler.max_loaded = max_loaded;
        c.scheduler.memory_headroom = 0;
        sdk::MachineInfo box2{"box2", false, {cuda_report({24})}};
        MachineMap machines(describe_machine("local", {cuda_report({8, 24, 24})}, 0), {{"local", false, {}}, {"box2", true, {box2}}}, 0);
        scheduler_.apply_config(c, std::move(machines));
    }

    static config::ModelConfig model(std::string name, uint64_t gib, std::string runner = "local", config::DeviceRequest devices = {}) {
        config::ModelConfig m;
        m.name = name;
        m.runner = std::move(runner);
        m.memory = gib * GiB;
        m.devices = std::move(devices);
        m.server.model_id = m.server.model_name = name;
        m.server.model_path = "/models/" + name + ".gguf";
        return m;
    }

    template <class Pred>
    bool run_until(Pred done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            io_.restart();
            io_.run_for(std::chrono::milliseconds(5));
        }
        return true;
    }

    std::string state(const std::string& name) { return scheduler_.describe(*scheduler_.find(name)).state; }
    bool ready(const std::string& name) { return state(name) == "ready"; }

    void load(const std::string& name) {
        ASSERT_FALSE(scheduler_.load(name));
        ASSERT_TRUE(run_until([&] { return ready(name); })) << name << " is " << state(name);
    }

    // A request for `name` in flight: a lease held until the returned holder is reset.
    std::shared_ptr<std::optional<std::variant<Lease, Refusal>>> acquire(const std::string& name) {
        auto result = std::make_shared<std::optional<std::variant<Lease, Refusal>>>();
        asio::co_spawn(io_, scheduler_.acquire(name), [result](std::exception_ptr e, std::variant<Lease, Refusal> r) {
            if (!e) result->emplace(std::move(r));
        });
        return result;
    }

    const sdk::ServerConfig& started(const std::string& name) {
        std::lock_guard lock(mutex_);
        for (const auto& c : started_) {
            if (c.model_name == name) return c;
        }
        throw std::runtime_error("not started: " + name);
    }
    std::vector<std::string> stopped() {
        std::lock_guard lock(mutex_);
        return stopped_;
    }

    config::SchedulerConfig scheduling_;  // swap settings for configure()
    std::filesystem::path state_dir_ = std::filesystem::temp_directory_path() / ("corral-scheduler-test-" + std::to_string(::getpid()));
    asio::io_context io_;
    asio::thread_pool workers_{2};
    admin::EventBus events_{io_.get_executor()};
    admin::Metrics metrics_;
    config::SupervisorConfig supervisor_config_;
    supervisor::Supervisor supervisor_{io_, workers_, supervisor_config_, events_, metrics_};
    plugins::PluginRegistry registry_;
    serve::RunnerSet runners_{registry_, state_dir_, nullptr};
    NiceMock<MockRunner>* local_ = nullptr;
    NiceMock<MockRunner>* remote_ = nullptr;
    fit::MemoryPlanner memory_;
    Scheduler scheduler_{io_, supervisor_, runners_, metrics_, events_, memory_};
    std::mutex mutex_;
    std::vector<sdk::ServerConfig> started_;
    std::vector<std::string> stopped_;
};

TEST_F(SchedulerTest, ModelsOnDifferentGpusLoadTogetherAndEachServerSeesOnlyItsGpu) {
    configure({model("a", 20), model("b", 20), model("c", 20)});
    load("a");
    load("b");
    EXPECT_EQ(started("a").env.at("CUDA_VISIBLE_DEVICES"), "GPU-1");
    EXPECT_EQ(started("b").env.at("CUDA_VISIBLE_DEVICES"), "GPU-2");
    EXPECT_THAT(started("b").devices, ElementsAre("cuda:2"));
    EXPECT_TRUE(stopped().empty());

    // a is the least recently used on the 24 GiB GPUs: only it goes.
    load("c");
    EXPECT_THAT(stopped(), ElementsAre("a"));
    EXPECT_EQ(started("c").env.at("CUDA_VISIBLE_DEVICES"), "GPU-1");
    EXPECT_TRUE(ready("b"));
    auto machines = scheduler_.machine_status();
    ASSERT_EQ(machines.size(), 2u);
    EXPECT_THAT(machines[0].ledger.device_reserved, ElementsAre(0u, 20 * GiB, 20 * GiB));
}

TEST_F(SchedulerTest, EvictionNeverHitsABusyModelTheNewcomerWaitsForIt) {
    configure({model("busy", 20, "local", {config::DeviceRequest::Mode::Pinned, {"cuda:1"}}),
               model("next", 20, "local", {config::DeviceRequest::Mode::Pinned, {"cuda:1"}})});
    load("busy");
    auto in_flight = acquire("busy");
    ASSERT_TRUE(run_until([&] { return in_flight->has_value(); }));
    ASSERT_TRUE(std::holds_alternative<Lease>(**in_flight));

    auto waiting = acquire("next");
    // Everything that can happen without the lease's release happens now: next stays queued.
    run_until([] { return false; }, std::chrono::milliseconds(50));
    EXPECT_EQ(state("next"), "queued");
    EXPECT_TRUE(ready("busy"));
    EXPECT_TRUE(stopped().empty());

    in_flight->reset();  // the request ends
    ASSERT_TRUE(run_until([&] { return waiting->has_value(); }));
    ASSERT_TRUE(std::holds_alternative<Lease>(**waiting));
    EXPECT_THAT(stopped(), ElementsAre("busy"));
    EXPECT_TRUE(ready("next"));
}

TEST_F(SchedulerTest, RequestsInFlightAndWaitingAreReportedAsOneEventPerModelAndBurst) {
    auto m = model("a", 4);
    m.concurrency = 1;
    configure({m, model("b", 4)});
    load("a");
    auto sub = events_.subscribe(false);
    auto requests_events = [&] {
        std::vector<boost::json::object> out;
        for (const auto& e : (*sub)->pending) {
            if (e.at("type") == "requests") out.push_back(e);
        }
        return out;
    };
    auto first = acquire("a");
    auto second = acquire("a");  // waits behind the first (concurrency 1)
    auto third = acquire("a");
    ASSERT_TRUE(run_until([&] { return !requests_events().empty(); }));
    auto burst = requests_events();
    ASSERT_EQ(burst.size(), 1u) << "three changes, one event";
    EXPECT_EQ(burst[0].at("model"), "a");
    EXPECT_EQ(burst[0].at("in_flight").as_int64(), 1);
    EXPECT_EQ(burst[0].at("queued").as_int64(), 2);

    (*sub)->pending.clear();
    first->reset();  // the lease ends: the next in the queue gets the slot
    ASSERT_TRUE(run_until([&] { return second->has_value(); }));
    second->reset();
    ASSERT_TRUE(run_until([&] { return third->has_value(); }));
    third->reset();
    ASSERT_TRUE(run_until([&] {
        auto e = requests_events();
        return !e.empty() && e.back().at("in_flight").as_int64() == 0 && e.back().at("queued").as_int64() == 0;
    }));
    // They are frequent: kept out of the history a late subscriber replays.
    for (const auto& e : events_.history()) EXPECT_NE(e.at("type"), "requests");
}

TEST_F(SchedulerTest, ALeaseIsTakenAtOnceOnlyWhenNoWaitAndNoDecisionIsNeeded) {
    auto m = model("a", 4);
    m.concurrency = 1;
    configure({m, model("b", 4)});
    EXPECT_FALSE(scheduler_.acquire_now("nope")) << "an unknown model is acquire()'s refusal";
    EXPECT_FALSE(scheduler_.acquire_now("a")) << "not loaded: acquire() starts it";
    load("a");
    auto first = scheduler_.acquire_now("a");
    ASSERT_TRUE(first);
    EXPECT_EQ(scheduler_.describe(*scheduler_.find("a")).in_flight, 1);
    EXPECT_FALSE(scheduler_.acquire_now("a")) << "concurrency 1 is taken: acquire() queues";
    auto queued = acquire("a");
    run_until([] { return false; }, std::chrono::milliseconds(20));
    first.reset();  // the queue keeps its order: the waiter gets the slot, not a newcomer
    EXPECT_FALSE(scheduler_.acquire_now("a"));
    ASSERT_TRUE(run_until([&] { return queued->has_value(); }));
    ASSERT_TRUE(std::holds_alternative<Lease>(**queued));
    queued->reset();
    EXPECT_TRUE(scheduler_.acquire_now("a"));
}

TEST_F(SchedulerTest, ARemoteModelNeverEvictsALocalOne) {
    configure({model("local-a", 20), model("local-b", 20), model("remote", 20, "box2"), model("remote-2", 20, "box2")});
    load("local-a");
    load("local-b");
    load("remote");
    EXPECT_TRUE(stopped().empty());
    EXPECT_EQ(scheduler_.describe(*scheduler_.find("remote")).placement->machine, "box2");
    EXPECT_FALSE(started("remote").env.count("GGML_VK_VISIBLE_DEVICES"));
    EXPECT_EQ(started("remote").env.at("CUDA_VISIBLE_DEVICES"), "GPU-0");

    // box2 is full: the second remote model evicts the first remote one, not the older local ones.
    load("remote-2");
    EXPECT_THAT(stopped(), ElementsAre("remote"));
    EXPECT_TRUE(ready("local-a"));
    EXPECT_TRUE(ready("local-b"));
}

TEST_F(SchedulerTest, APinToNoDeviceFailsTheWaitersWithTheReason) {
    configure({model("nowhere", 1, "local", {config::DeviceRequest::Mode::Pinned, {"cuda:9"}})});
    auto r = acquire("nowhere");
    ASSERT_TRUE(run_until([&] { return r->has_value(); }));
    ASSERT_TRUE(std::holds_alternative<Refusal>(**r));
    const auto& refusal = std::get<Refusal>(**r);
    EXPECT_EQ(refusal.status, 503);
    EXPECT_EQ(refusal.code, "model_unplaceable");
    EXPECT_THAT(refusal.message, HasSubstr("\"cuda:9\" is no device of machine local"));
    EXPECT_EQ(state("nowhere"), "unloaded");
}

// A runner that cannot start the server (here: the model file is missing) leaves the model
// unloaded with its reason; it is never taken for a ready server without an address (the start's
// error was once moved out before it was looked at: arguments are evaluated in no set order).
TEST_F(SchedulerTest, AServerThatCannotStartLeavesTheModelUnloadedWithTheRunnersReason) {
    EXPECT_CALL(*local_, start(_)).WillOnce([](const sdk::ServerConfig&) -> sdk::ProcessHandle {
        throw sdk::Error(sdk::ProcessError::Configuration, "model file not found or not readable: /models/a.gguf");
    });
    configure({model("a", 1)});
    ASSERT_FALSE(scheduler_.load("a"));
    ASSERT_TRUE(run_until([&] { return state("a") == "unloaded"; })) << state("a");
    const auto status = scheduler_.describe(*scheduler_.find("a"));
    EXPECT_THAT(status.message, HasSubstr("model file not found")) << status.message;
    EXPECT_TRUE(status.endpoint.empty());
    EXPECT_FALSE(scheduler_.acquire_now("a")) << "no lease on a server that is not there";
}

// A runner's "status" lines while its start() waits (a cluster queue's reason) are the starting
// model's message; once it serves, the handle's runner_data is its runner_details.
TEST_F(SchedulerTest, ARunnersStatusLineIsTheStartingModelsMessage) {
    std::promise<void> release;
    auto released = release.get_future().share();
    struct Release {  // a failed assertion must not leave the worker blocked in start()
        std::promise<void>& p;
        ~Release() {
            try {
                p.set_value();
            } catch (const std::future_error&) {
            }
        }
    } guard{release};
    EXPECT_CALL(*remote_, start(_)).WillOnce([this, released](const sdk::ServerConfig& c) {
        {
            std::lock_guard lock(mutex_);
            started_.push_back(c);
        }
        released.wait();
        return sdk::ProcessHandle{c.instance_id,
                                  c.model_name,
                                  "box2",
                                  std::nullopt,
                                  "http://127.0.0.1:9",
                                  0,
                                  boost::json::object{{"job_id", "12"}, {"node", "c2"}}};
    });
    configure({model("cluster", 10, "box2")});
    ASSERT_FALSE(scheduler_.load("cluster"));
    std::string id;
    ASSERT_TRUE(run_until([&] {
        std::lock_guard lock(mutex_);
        if (!started_.empty()) id = started_.back().instance_id;
        return !id.empty();
    }));
    const std::string line = "job 12 waits in the queue (PENDING: Resources)";
    supervisor_.on_runner_event(
        {plugins::RunnerEvent::Kind::LogLine, "gmock", id, boost::json::object{{"stream", "status"}, {"line", line}}});
    auto starting = scheduler_.describe(*scheduler_.find("cluster"));
    EXPECT_EQ(starting.state, "starting");
    EXPECT_EQ(starting.message, line);
    // The server's own output is not a message.
    supervisor_.on_runner_event(
        {plugins::RunnerEvent::Kind::LogLine, "gmock", id, boost::json::object{{"stream", "stderr"}, {"line", "x"}}});
    EXPECT_EQ(scheduler_.describe(*scheduler_.find("cluster")).message, line);

    release.set_value();
    ASSERT_TRUE(run_until([&] { return ready("cluster"); }));
    auto serving = scheduler_.describe(*scheduler_.find("cluster"));
    EXPECT_EQ(serving.runner_details.at("node"), "c2");
    EXPECT_EQ(serving.runner_details.at("job_id"), "12");
}

TEST_F(SchedulerTest, MaxLoadedCountsEveryMachine) {
    configure({model("local-a", 1), model("remote", 1, "box2")}, 1);
    load("local-a");
    load("remote");
    EXPECT_THAT(stopped(), ElementsAre("local-a"));
}

// Swaps between models that do not fit together (max_loaded 1): collation, the starvation bound and
// priorities, on a fake clock.
class SwapTest : public SchedulerTest {
protected:
    using Request = std::shared_ptr<std::optional<std::variant<Lease, Refusal>>>;

    SwapTest() {
        // The time lives in a shared_ptr the clock holds: the fixture's base destructor stops servers
        // (and reads the clock) after this class's members are gone.
        scheduler_.set_clock([now = now_] { return *now; });
        scheduling_.max_wait_for_swap = std::chrono::seconds(30);
    }
    static config::ModelConfig one_at_a_time(std::string name, int32_t priority = 0) {
        auto m = model(std::move(name), 4);
        m.concurrency = 1;
        m.priority = priority;
        return m;
    }
    // Lets everything that can happen now happen.
    void settle() {
        run_until([] { return false; }, std::chrono::milliseconds(30));
    }
    bool leased(const Request& r) { return r->has_value() && std::holds_alternative<Lease>(**r); }
    void finish(Request& r) {
        ASSERT_TRUE(run_until([&] { return leased(r); }));
        r->reset();
        settle();
    }
    std::vector<std::string> starts() {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& c : started_) out.push_back(c.model_name);
        return out;
    }

    std::shared_ptr<SwapClock::time_point> now_ = std::make_shared<SwapClock::time_point>(SwapClock::now());
};

TEST_F(SwapTest, ALoadedModelServesABatchOfItsQueueThenYieldsABABBecomesAABB) {
    scheduling_.swap_batch_requests = 2;
    scheduling_.swap_batch_time.reset();
    configure({one_at_a_time("a"), one_at_a_time("b")}, 1);
    load("a");
    auto a1 = acquire("a");
    ASSERT_TRUE(run_until([&] { return leased(a1); }));
    auto b1 = acquire("b");  // b waits for a's room
    auto a2 = acquire("a");  // behind a1 (concurrency 1)
    auto b2 = acquire("b");
    auto a3 = acquire("a");
    auto a4 = acquire("a");
    settle();
    EXPECT_EQ(state("b"), "queued");

    finish(a1);  // a's batch: a2 and a3, while b waits
    EXPECT_TRUE(leased(a2));
    finish(a2);
    EXPECT_TRUE(leased(a3));
    EXPECT_TRUE(stopped().empty());
    finish(a3);  // batch spent: a4 waits for a's next turn, b takes the room
    EXPECT_FALSE(a4->has_value());
    ASSERT_TRUE(run_until([&] { return leased(b1); }));
    EXPECT_THAT(stopped(), ElementsAre("a"));
    finish(b1);
    EXPECT_TRUE(leased(b2));  // b's own queue first
    finish(b2);
    ASSERT_TRUE(run_until([&] { return leased(a4); }));
    EXPECT_THAT(starts(), ElementsAre("a", "b", "a"));
    EXPECT_THAT(stopped(), ElementsAre("a", "b"));
}

TEST_F(SwapTest, ABatchOfOneSwapsOnEveryTurnLikeArrivalOrder) {
    scheduling_.swap_batch_requests = 1;
    configure({one_at_a_time("a"), one_at_a_time("b")}, 1);
    load("a");
    auto a1 = acquire("a");
    ASSERT_TRUE(run_until([&] { return leased(a1); }));
    auto b1 = acquire("b");
    auto a2 = acquire("a");
    auto b2 = acquire("b");
    auto a3 = acquire("a");
    settle();
    finish(a1);  // a1 came before b: a2 is a's one request of the turn
    finish(a2);
    ASSERT_TRUE(run_until([&] { return leased(b1); }));
    finish(b1);
    ASSERT_TRUE(run_until([&] { return leased(a3); }));
    EXPECT_FALSE(b2->has_value());
    finish(a3);
    ASSERT_TRUE(run_until([&] { return leased(b2); }));
    EXPECT_THAT(starts(), ElementsAre("a", "b", "a", "b"));
}

TEST_F(SwapTest, ABatchEndsAfterItsTime) {
    scheduling_.swap_batch_requests.reset();
    scheduling_.swap_batch_time = std::chrono::seconds(10);
    configure({one_at_a_time("a"), one_at_a_time("b")}, 1);
    load("a");
    auto a1 = acquire("a");
    ASSERT_TRUE(run_until([&] { return leased(a1); }));
    auto b1 = acquire("b");
    std::vector<Request> more;
    for (int i = 0; i < 5; ++i) more.push_back(acquire("a"));
    settle();
    finish(a1);
    finish(more[0]);
    finish(more[1]);  // 3 requests, no time passed: still a's batch
    EXPECT_TRUE(leased(more[2]));
    *now_ += std::chrono::seconds(11);
    finish(more[2]);
    EXPECT_FALSE(more[3]->has_value());
    ASSERT_TRUE(run_until([&] { return leased(b1); }));
}

TEST_F(SwapTest, ALowerPriorityModelWaitsForAHigherOneButNeverLongerThanMaxWait) {
    scheduling_.swap_batch_requests = 1;
    configure({one_at_a_time("high", 5), one_at_a_time("low", 0)}, 1);
    load("high");
    auto h1 = acquire("high");
    ASSERT_TRUE(run_until([&] { return leased(h1); }));
    auto l1 = acquire("low");
    std::vector<Request> highs;
    for (int i = 0; i < 4; ++i) highs.push_back(acquire("high"));
    settle();
    finish(h1);
    finish(highs[0]);  // past the batch: a lower priority does not hurry high
    EXPECT_TRUE(leased(highs[1]));
    *now_ += std::chrono::seconds(30);  // low has waited max_wait_for_swap
    finish(highs[1]);
    EXPECT_FALSE(highs[2]->has_value());
    ASSERT_TRUE(run_until([&] { return leased(l1); }));
    EXPECT_THAT(stopped(), ElementsAre("high"));
}

TEST_F(SwapTest, AModelNoOneWaitsForAnyMoreTakesItsQueueAgain) {
    scheduling_.swap_batch_requests = 1;
    scheduling_.load_timeout = std::chrono::milliseconds(300);
    configure({one_at_a_time("a"), one_at_a_time("b")}, 1);
    load("a");
    auto a1 = acquire("a");
    ASSERT_TRUE(run_until([&] { return leased(a1); }));
    auto b1 = acquire("b");
    auto a2 = acquire("a");
    auto a3 = acquire("a");
    settle();
    finish(a1);  // a2 is a's one request while b waits: a yields after it
    ASSERT_TRUE(leased(a2));
    ASSERT_TRUE(run_until([&] { return b1->has_value(); }));  // b's request gives up (load_timeout)
    EXPECT_TRUE(std::holds_alternative<Refusal>(**b1));
    finish(a2);
    ASSERT_TRUE(run_until([&] { return leased(a3); }));  // no one claims a's room: a serves its queue
    EXPECT_TRUE(stopped().empty());
}

TEST_F(SwapTest, WaitingModelsGetTheRoomByPriorityThenArrival) {
    configure({one_at_a_time("a"), one_at_a_time("early", 0), one_at_a_time("urgent", 3)}, 1);
    load("a");
    auto a1 = acquire("a");
    ASSERT_TRUE(run_until([&] { return leased(a1); }));
    auto early = acquire("early");
    *now_ += std::chrono::seconds(1);
    auto urgent = acquire("urgent");
    settle();
    finish(a1);
    ASSERT_TRUE(run_until([&] { return leased(urgent); }));
    EXPECT_FALSE(early->has_value());
    finish(urgent);
    ASSERT_TRUE(run_until([&] { return leased(early); }));
    EXPECT_THAT(starts(), ElementsAre("a", "urgent", "early"));
}

}  // namespace
}  // namespace corral::scheduler

namespace corral::scheduler {
namespace {

class ReplicaTest : public SchedulerTest {
protected:
    static config::ModelConfig replicated(std::string name, uint64_t gib, config::ReplicaPolicy policy) {
        auto m = model(std::move(name), gib);
        m.replicas = policy;
        return m;
    }
    static config::ReplicaPolicy fixed(int32_t n) {
        config::ReplicaPolicy p;
        p.start = p.max = n;
        return p;
    }
    std::vector<sdk::ServerConfig> starts_of(const std::string& name) {
        std::lock_guard lock(mutex_);
        std::vector<sdk::ServerConfig> out;
        for (const auto& c : started_) {
            if (c.model_name == name) out.push_back(c);
        }
        return out;
    }
    int32_t serving_replicas(const std::string& name) {
        int32_t n = 0;
        for (const auto& r : scheduler_.describe(*scheduler_.find(name)).replicas) n += r.state == "ready";
        return n;
    }
    // The replica index a granted request went to.
    int32_t granted(const std::shared_ptr<std::optional<std::variant<Lease, Refusal>>>& r) {
        EXPECT_TRUE(run_until([&] { return r->has_value(); }));
        EXPECT_TRUE(std::holds_alternative<Lease>(**r));
        return std::get<Lease>(**r).replica_index();
    }
};

TEST_F(ReplicaTest, AModelWithTwoReplicasRunsTwoServersOnTwoGpus) {
    configure({replicated("r", 20, fixed(2))});
    ASSERT_FALSE(scheduler_.load("r"));
    ASSERT_TRUE(run_until([&] { return serving_replicas("r") == 2; }));
    auto starts = starts_of("r");
    ASSERT_EQ(starts.size(), 2u);
    EXPECT_NE(starts[0].env.at("CUDA_VISIBLE_DEVICES"), starts[1].env.at("CUDA_VISIBLE_DEVICES"));
    auto s = scheduler_.describe(*scheduler_.find("r"));
    ASSERT_EQ(s.replicas.size(), 2u);
    EXPECT_EQ(s.replicas[0].name, "r");
    EXPECT_EQ(s.replicas[1].name, "r#1");
    EXPECT_EQ(scheduler_.machine_status()[0].ledger.total_reserved, 40 * GiB);
}

TEST_F(ReplicaTest, RequestsGoToTheLeastBusyReplica) {
    auto m = replicated("r", 1, fixed(2));
    m.prefix_routing = false;
    configure({m});
    ASSERT_FALSE(scheduler_.load("r"));
    ASSERT_TRUE(run_until([&] { return serving_replicas("r") == 2; }));
    auto a = acquire("r");
    auto b = acquire("r");
    EXPECT_NE(granted(a), granted(b));
    a->reset();
    run_until([] { return false; }, std::chrono::milliseconds(20));
    auto c = acquire("r");
    EXPECT_NE(granted(c), granted(b));  // the replica a left is the idle one
}

TEST_F(ReplicaTest, APromptPrefixKeepsItsReplicaAndAFailedOneIsAvoided) {
    configure({replicated("r", 1, fixed(2))});
    ASSERT_FALSE(scheduler_.load("r"));
    ASSERT_TRUE(run_until([&] { return serving_replicas("r") == 2; }));
    auto acquire_with = [&](Affinity affinity) {
        auto result = std::make_shared<std::optional<std::variant<Lease, Refusal>>>();
        asio::co_spawn(io_, scheduler_.acquire("r", std::move(affinity)), [result](std::exception_ptr e, std::variant<Lease, Refusal> r) {
            if (!e) result->emplace(std::move(r));
        });
        return result;
    };
    Affinity conversation;
    conversation.key = "You are a helpful assistant.\nuser: hello";
    auto first = acquire_with(conversation);
    const auto home = granted(first);
    first->reset();
    for (int turn = 0; turn < 5; ++turn) {
        auto next = acquire_with(conversation);
        EXPECT_EQ(granted(next), home) << "turn " << turn;
    }
    conversation.avoid = home;  // a retry after `home` failed
    EXPECT_NE(granted(acquire_with(conversation)), home);
}

TEST_F(ReplicaTest, ABacklogStartsAnotherReplicaAndIdleOnesUnloadToTheMinimum) {
    config::ReplicaPolicy policy;
    policy.min = 1;
    policy.start = 1;
    policy.max = 2;
    policy.scale_up_after = std::chrono::milliseconds(30);
    auto m = replicated("r", 1, policy);
    m.ttl = std::chrono::milliseconds(60);
    m.server.parallel = 1;
    configure({m});
    // min 1: one runs without a request.
    ASSERT_TRUE(run_until([&] { return serving_replicas("r") == 1; }));
    EXPECT_EQ(starts_of("r").size(), 1u);

    // Two requests on one slot: a backlog; after scale_up_after a second replica starts.
    auto a = acquire("r");
    auto b = acquire("r");
    ASSERT_TRUE(run_until([&] { return a->has_value() && b->has_value(); }));
    ASSERT_TRUE(run_until([&] { return serving_replicas("r") == 2; }));
    EXPECT_EQ(starts_of("r").size(), 2u);

    // Idle: the extra replica unloads after its ttl, the minimum stays.
    a->reset();
    b->reset();
    ASSERT_TRUE(run_until([&] { return stopped().size() == 1; }));
    run_until([] { return false; }, std::chrono::milliseconds(200));
    EXPECT_EQ(stopped().size(), 1u);
    EXPECT_EQ(serving_replicas("r"), 1);
}

TEST_F(ReplicaTest, ReplicasMayUseSeveralRunnersMostFreeFirst) {
    auto m = replicated("r", 20, fixed(3));
    m.runners = {"box2", "local"};
    configure({m});
    ASSERT_FALSE(scheduler_.load("r"));
    ASSERT_TRUE(run_until([&] { return serving_replicas("r") == 3; }));
    auto s = scheduler_.describe(*scheduler_.find("r"));
    ASSERT_EQ(s.replicas.size(), 3u);
    // local has 56 GiB free, box2 24: two replicas go local (56, then 36 free), the third to box2
    // (local has 16 left), whatever the list's order.
    std::vector<std::string> where;
    for (const auto& r : s.replicas) where.push_back(r.placement->machine + "/" + r.runner);
    EXPECT_THAT(where, ElementsAre("local/local", "local/local", "box2/box2"));
    EXPECT_EQ(scheduler_.machine_status()[1].ledger.total_reserved, 20 * GiB);
}

}  // namespace
}  // namespace corral::scheduler
