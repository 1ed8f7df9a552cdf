// corral-bench: the benchmark suite. Runs every section (or those named with --only), prints a
// side-by-side table per section and writes all numbers, with a description of the machine, as JSON.
//
// corral-bench --corral PATH --plugins DIR --llama-server PATH --models DIR [--work DIR]
//              [--out FILE.json] [--only proxy,streaming,swap,crash,scale,footprint,chaos,replicas,swaps] [--quick] [--soak-seconds N]
#include "benchmarks.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

namespace {

using namespace corral::bench;

void print(const Section& s) {
    std::cout << "\n" << s.title << "\n";
    std::vector<std::size_t> width(s.header.size(), 0);
    for (std::size_t c = 0; c < s.header.size(); ++c) width[c] = s.header[c].size();
    for (const auto& row : s.rows) {
        for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::cout << " ";
        for (std::size_t c = 0; c < cells.size() && c < width.size(); ++c) {
            std::cout << " " << cells[c] << std::string(width[c] - cells[c].size() + 1, ' ') << (c + 1 < cells.size() ? "|" : "");
        }
        std::cout << "\n";
    };
    line(s.header);
    std::string rule;
    for (auto w : width) rule += std::string(w + 2, '-') + "+";
    std::cout << "  " << rule.substr(0, rule.size() - 1) << "\n";
    for (const auto& row : s.rows) line(row);
    for (const auto& n : s.notes) std::cout << "  (" << n << ")\n";
    std::cout.flush();
}

boost::json::object machine() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string model;
    for (std::string line; std::getline(cpuinfo, line);) {
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    }
    utsname u{};
    ::uname(&u);
    return {{"cpu", model},
            {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
            {"ram_bytes", static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE))},
            {"kernel", std::string(u.sysname) + " " + u.release}};
}

int usage() {
    std::cerr
        << "usage: corral-bench --corral PATH --plugins DIR --llama-server PATH --models DIR [--work DIR] [--out FILE.json]\n"
           "                    [--only proxy,streaming,swap,crash,scale,footprint,chaos,replicas,swaps] [--quick] [--soak-seconds N]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") return usage(), 0;
        if (a == "--quick") {
            args["quick"] = "1";
            continue;
        }
        if (a.rfind("--", 0) != 0 || i + 1 >= argc) return usage();
        args[a.substr(2)] = argv[++i];
    }
    for (const char* required : {"corral", "plugins", "llama-server", "models"}) {
        if (!args.count(required)) return usage();
    }
    BenchEnv env;
    env.corral = fs::absolute(args["corral"]);
    env.plugins = fs::absolute(args["plugins"]);
    env.llama_server = fs::absolute(args["llama-server"]);
    env.models = fs::absolute(args["models"]);
    env.work = fs::absolute(args.count("work") ? args["work"] : "bench-work");
    if (args.count("quick")) {
        env.repetitions = 5;
        env.seconds = 2;
        env.soak_seconds = 20;
    }
    if (args.count("soak-seconds")) env.soak_seconds = std::max(10, std::stoi(args["soak-seconds"]));
    fs::create_directories(env.work);

    const std::vector<std::pair<std::string, std::function<Section(const BenchEnv&)>>> sections = {
        {"proxy", bench_proxy}, {"streaming", bench_streaming}, {"swap", bench_swap},
        {"crash", bench_crash}, {"scale", bench_scale},         {"footprint", bench_footprint},
        {"chaos", bench_chaos}, {"replicas", bench_replicas},   {"swaps", bench_swaps}};
    const std::string only = args.count("only") ? "," + args["only"] + "," : "";

    auto m = machine();
    std::cout << "corral benchmarks on " << m.at("cpu").as_string() << ", " << m.at("cpus").as_int64() << " CPUs, "
              << fixed(static_cast<double>(m.at("ram_bytes").to_number<uint64_t>()) / (1024.0 * 1024 * 1024), 1) << " GiB RAM, "
              << m.at("kernel").as_string() << "\n";
    boost::json::object results;
    bool failed = false;
    const auto started = clock::now();
    for (const auto& [name, run] : sections) {
        if (!only.empty() && only.find("," + name + ",") == std::string::npos) continue;
        try {
            auto section = run(env);
            print(section);
            results[name] = section.json;
        } catch (const std::exception& e) {
            std::cout << "\n" << name << ": FAILED: " << e.what() << "\n";
            results[name] = {{"error", e.what()}};
            failed = true;
        }
    }
    std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    boost::json::object report{{"date", date}, {"machine", m}, {"seconds", ms_since(started) / 1000.0}, {"results", results}};
    auto out = fs::absolute(args.count("out") ? args["out"] : (env.work / "results.json").string());
    fs::create_directories(out.parent_path());
    std::ofstream(out) << boost::json::serialize(report) << "\n";
    std::cout << "\nsuite took " << fixed(ms_since(started) / 1000.0, 0) << " s; JSON written to " << out.string() << "\n";
    return failed ? 1 : 0;
}
