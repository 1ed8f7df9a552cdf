#include "wrk_runner.hpp"

#include <fstream>
#include <regex>
#include <stdexcept>

namespace corral::bench {
namespace {

double to_ms(double value, const std::string& unit) {
    if (unit == "us") return value / 1000.0;
    if (unit == "ms") return value;
    if (unit == "s") return value * 1000.0;
    if (unit == "m") return value * 60000.0;
    return value;
}

std::string lua_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace

WrkResult parse_wrk(const std::string& report) {
    WrkResult r;
    r.raw = report;
    std::smatch m;
    static const std::regex rps(R"(Requests/sec:\s+([0-9.]+))");
    if (std::regex_search(report, m, rps)) r.requests_per_second = std::stod(m[1]);
    static const std::regex latency(R"(\s(50|90|99)%\s+([0-9.]+)(us|ms|s|m)\b)");
    for (auto it = std::sregex_iterator(report.begin(), report.end(), latency); it != std::sregex_iterator(); ++it) {
        double v = to_ms(std::stod((*it)[2]), (*it)[3]);
        auto q = (*it)[1].str();
        (q == "50" ? r.p50_ms : q == "90" ? r.p90_ms : r.p99_ms) = v;
    }
    static const std::regex total(R"((\d+) requests in)");
    if (std::regex_search(report, m, total)) r.requests = std::stoull(m[1]);
    static const std::regex non2xx(R"(Non-2xx or 3xx responses: (\d+))");
    if (std::regex_search(report, m, non2xx)) r.errors += std::stoull(m[1]);
    static const std::regex socket(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))");
    if (std::regex_search(report, m, socket)) {
        for (int i = 1; i <= 4; ++i) r.errors += std::stoull(m[i]);
    }
    return r;
}

WrkResult run_wrk(const fs::path& work, const std::string& url, const std::string& body, int connections, int seconds,
                  const std::string& key) {
    auto script = work / "wrk-post.lua";
    std::ofstream lua(script);
    lua << "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = " << lua_string(body) << "\n";
    if (!key.empty()) lua << "wrk.headers[\"Authorization\"] = " << lua_string("Bearer " + key) << "\n";
    lua.close();
    auto r = test::run_process({"/usr/bin/wrk", "-t", std::to_string(std::min(connections, 2)), "-c", std::to_string(connections), "-d",
                                std::to_string(seconds) + "s", "--latency", "-s", script.string(), url});
    if (r.exit_code != 0) throw std::runtime_error("wrk failed: " + r.err + r.out);
    return parse_wrk(r.out);
}

}  // namespace corral::bench
