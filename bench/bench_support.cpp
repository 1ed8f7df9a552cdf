#include "bench_support.hpp"

#include "http_client.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace corral::bench {

double ms_since(clock::time_point t) {
    return std::chrono::duration<double, std::milli>(clock::now() - t).count();
}

Stats stats_of(std::vector<double> v) {
    Stats s;
    s.n = v.size();
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        return v[std::min(v.size() - 1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))) - (q > 0 ? 1 : 0))];
    };
    s.min = v.front();
    s.max = v.back();
    s.median = at(0.5);
    s.p90 = at(0.9);
    s.p99 = at(0.99);
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    return s;
}

boost::json::object to_json(const Stats& s) {
    return {{"n", s.n}, {"min", s.min}, {"median", s.median}, {"p90", s.p90}, {"p99", s.p99}, {"max", s.max}, {"mean", s.mean}};
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

uint16_t free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

bool wait_http_ok(uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    while (clock::now() < deadline) {
        try {
            if (test::http_request("127.0.0.1", port, "GET", path).status == 200) return true;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
}

uint64_t rss_bytes(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    }
    return 0;
}

namespace {

// The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses):
// element 0 is field 3, the state.
std::vector<std::string> stat_fields(const fs::path& stat) {
    std::ifstream in(stat);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> fields;
    auto close = text.rfind(')');
    if (close == std::string::npos) return fields;
    std::istringstream rest(text.substr(close + 2));
    for (std::string field; rest >> field;) fields.push_back(std::move(field));
    return fields;
}

}  // namespace

double cpu_seconds(int pid) {
    const auto fields = stat_fields("/proc/" + std::to_string(pid) + "/stat");
    if (fields.size() < 13) return 0;
    const double ticks = std::stod(fields[11]) + std::stod(fields[12]);  // utime, stime (fields 14 and 15)
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

uint64_t cpu_ns(int pid) {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream in(task.path() / "schedstat");
        uint64_t on_cpu = 0;
        if (in >> on_cpu) total += on_cpu;
    }
    return total;
}

std::vector<int> children_of(int pid) {
    std::vector<int> children;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
        const auto fields = stat_fields(entry.path() / "stat");
        if (fields.size() > 1 && fields[1] == std::to_string(pid)) children.push_back(std::stoi(name));  // field 4: the parent
    }
    return children;
}

CorralServe::CorralServe(const BenchEnv& env, const fs::path& dir, const std::string& runners, const std::string& models,
                         const std::string& more)
    : corral_(env.corral), config_(dir / "config.json") {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(config_) << R"({"listen": "127.0.0.1:0", "log_level": "error", "plugin_dirs": [")" << env.plugins.string()
                           << R"("], "state_dir": ")" << (dir / "state").string() << R"(", "runners": )" << runners << R"(, "models": )"
                           << models << more << "}";
    start();
}

void CorralServe::start() {
    auto started = clock::now();
    process_ = std::make_unique<test::SpawnedProcess>(std::vector<std::string>{corral_.string(), "serve", "--config", config_.string()});
    auto line = process_->read_line();
    startup_ms_ = ms_since(started);
    auto colon = line.rfind(':');
    if (line.rfind("corral: serving", 0) != 0 || colon == std::string::npos)
        throw std::runtime_error("corral serve did not start: " + line);
    port_ = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
}

double CorralServe::kill_and_restart() {
    auto killed = clock::now();
    process_->kill_and_wait(SIGKILL);
    std::ifstream in(config_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string any_port = "\"127.0.0.1:0\"";
    if (auto at = text.find(any_port); at != std::string::npos)
        text.replace(at, any_port.size(), "\"127.0.0.1:" + std::to_string(port_) + "\"");
    std::ofstream(config_) << text;
    start();
    return ms_since(killed);
}

CorralServe::~CorralServe() {
    if (process_ && process_->pid() > 0) stop();
}

boost::json::value CorralServe::status() const {
    return boost::json::parse(test::http_request("127.0.0.1", port_, "GET", "/corral/status").body);
}

boost::json::object CorralServe::model(const std::string& name) const {
    auto s = status();
    for (const auto& m : s.at("models").as_array()) {
        if (m.at("name").as_string() == name) return m.as_object();
    }
    throw std::runtime_error("no model " + name);
}

double CorralServe::stop() {
    auto started = clock::now();
    process_->stop(SIGTERM, std::chrono::seconds(60));
    return ms_since(started);
}

Background::Background(std::vector<std::string> argv, const fs::path& log)
    : process_(std::make_unique<test::SpawnedProcess>(argv, log.string())) {}

Background::~Background() {
    process_->stop(SIGTERM, std::chrono::seconds(5));
}

}  // namespace corral::bench
