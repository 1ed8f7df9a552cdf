#include "pull/pull_jobs.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace corral::pull {

PullJobs::PullJobs(boost::asio::any_io_executor executor, Listener listener)
    : executor_(std::move(executor)), listener_(std::move(listener)) {}

PullJobs::~PullJobs() {
    alive_.reset();
    stop_all();
    jobs_.clear();  // each jthread joins: its pull ends within a second of the stop
}

std::variant<uint64_t, PullJobs::Refused> PullJobs::start(PullOptions options) {
    const auto target = (options.dir / options.file_name).string();
    for (const auto& [id, job] : jobs_) {
        if (job.target == target) {
            return Refused{409, "A pull into " + target + " is already under way (pull " + std::to_string(id) + ").", "pull_in_progress"};
        }
    }
    if (jobs_.size() >= kMaxRunning) {
        return Refused{429, "Already " + std::to_string(jobs_.size()) + " pulls under way; try again when one ends.", "too_many_pulls"};
    }
    const uint64_t id = next_id_++;
    auto& job = jobs_[id];
    job.source = options.source.text;
    job.target = target;
    job.last.path = target;
    std::weak_ptr<int> alive = alive_;
    options.on_event = [executor = executor_, alive, id, this](const PullEvent& e) {
        boost::asio::post(executor, [alive, id, e, this] {
            if (alive.lock()) deliver(id, e);
        });
    };
    job.thread = std::jthread([options = std::move(options)](std::stop_token stop) mutable {
        options.stop = std::move(stop);
        run_pull(options);
    });
    return id;
}

void PullJobs::deliver(uint64_t id, const PullEvent& event) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    if (event.kind == PullEvent::Kind::Progress) it->second.last = event;
    const bool ended = event.kind == PullEvent::Kind::Done || event.kind == PullEvent::Kind::Error;
    if (ended) jobs_.erase(it);  // the thread returns right after its last event: the join is short
    listener_(id, event);
}

bool PullJobs::stop(uint64_t id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return false;
    it->second.thread.request_stop();
    return true;
}

void PullJobs::stop_all() {
    for (auto& [id, job] : jobs_) job.thread.request_stop();
}

boost::json::array PullJobs::running() const {
    boost::json::array out;
    for (const auto& [id, job] : jobs_) {
        auto o = to_json(job.last);
        o.erase("event");
        o["id"] = id;
        o["source"] = job.source;
        o["path"] = job.target;
        out.push_back(std::move(o));
    }
    return out;
}

}  // namespace corral::pull
