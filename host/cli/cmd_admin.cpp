// corral ps | load | unload | logs: clients of a running `corral serve`'s admin API.
#include "cli/admin_client.hpp"
#include "cli/commands.hpp"
#include "cli/json_output.hpp"
#include "config/units.hpp"
#include "proxy/http_text.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace corral::cli {
namespace {

std::string seconds_text(double s) {
    std::ostringstream os;
    if (s < 60) {
        os << static_cast<int>(s) << "s";
    } else if (s < 3600) {
        os << static_cast<int>(s / 60) << "m" << static_cast<int>(s) % 60 << "s";
    } else {
        os << static_cast<int>(s / 3600) << "h" << static_cast<int>(s / 60) % 60 << "m";
    }
    return os.str();
}

// Reports a failed request; returns the exit code.
int fail(const AdminReply& reply) {
    std::cerr << "corral: " << error_message(reply) << "\n";
    return reply.status == 404 ? kExitUsage : kExitFailure;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width(rows[0].size(), 0);
    for (const auto& r : rows) {
        for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows) {
        for (std::size_t i = 0; i < r.size(); ++i) {
            std::cout << r[i];
            if (i + 1 < r.size()) std::cout << std::string(width[i] - r[i].size() + 2, ' ');
        }
        std::cout << "\n";
    }
}

// "cuda:1,cuda:2", "ram" for a model placed in RAM only, "-" without a placement.
std::string placed_devices(const boost::json::object& model) {
    const auto* placement = model.if_contains("placement");
    if (!placement) return "-";
    std::string out;
    for (const auto& d : placement->at("devices").as_array()) {
        if (!out.empty()) out.push_back(',');
        out.append(d.as_string().data(), d.as_string().size());
    }
    if (placement->at("ram").to_number<uint64_t>() > 0) out += out.empty() ? "ram" : "+ram";
    return out.empty() ? "-" : out;
}

std::string size_or_dash(const boost::json::value* v) {
    return v && !v->is_null() && v->to_number<uint64_t>() ? config::format_size(v->to_number<uint64_t>()) : "-";
}

int ps(const ParsedArgs& args) {
    auto target = resolve_admin_target(args);
    auto reply = admin_request(target, "GET", "/corral/status");
    if (reply.status != 200) return fail(reply);
    auto status = boost::json::parse(reply.body);
    if (args.flag("json")) {
        write_pretty_json(std::cout, status);
        return kExitOk;
    }
    if (args.flag("quiet")) {
        for (const auto& m : status.at("models").as_array()) std::cout << m.at("name").as_string().c_str() << "\n";
        return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {
        {"MODEL", "STATE", "RUNNER", "MACHINE", "DEVICES", "REQUESTS", "QUEUED", "MEMORY", "UP", "IDLE", "ENDPOINT"}};
    // One line per server: a model with several replicas gets one per replica ("qwen", "qwen#1"),
    // its queue on the first.
    auto row = [&](const boost::json::object& o, const boost::json::object& model, bool first) {
        auto text = [&](const char* k) { return o.contains(k) ? std::string(o.at(k).as_string()) : std::string("-"); };
        auto secs = [&](const char* k) { return o.contains(k) ? seconds_text(o.at(k).to_number<double>()) : std::string("-"); };
        const auto* placement = o.if_contains("placement");
        rows.push_back({text("name"), text("state"), text("runner"), placement ? std::string(placement->at("machine").as_string()) : "-",
                        placed_devices(o), std::to_string(o.at("in_flight").to_number<int64_t>()),
                        first ? std::to_string(model.at("queued").to_number<int64_t>()) : "-", size_or_dash(model.if_contains("memory")),
                        secs("uptime_seconds"), secs("idle_seconds"), text("endpoint")});
    };
    for (const auto& m : status.at("models").as_array()) {
        const auto& o = m.as_object();
        const auto* replicas = o.if_contains("replicas");
        if (!replicas || replicas->as_array().size() < 2) {
            row(o, o, true);
            continue;
        }
        bool first = true;
        for (const auto& r : replicas->as_array()) {
            row(r.as_object(), o, first);
            first = false;
        }
    }
    print_table(rows);

    // The ledger: what each machine's devices and RAM hold, and may hold.
    const auto* machines = status.as_object().if_contains("machines");
    if (!machines || machines->as_array().empty()) return kExitOk;
    std::vector<std::vector<std::string>> ledger = {{"MACHINE", "DEVICE", "NAME", "RESERVED", "CAPACITY"}};
    for (const auto& m : machines->as_array()) {
        const auto& o = m.as_object();
        const std::string name(o.at("name").as_string());
        if (o.at("capacity_managed_elsewhere").as_bool()) {
            ledger.push_back({name, "-", "capacity managed elsewhere", "-", "-"});
            continue;
        }
        for (const auto& d : o.at("devices").as_array()) {
            ledger.push_back({name, std::string(d.at("id").as_string()), std::string(d.at("name").as_string()),
                              size_or_dash(d.as_object().if_contains("memory_reserved")),
                              size_or_dash(d.as_object().if_contains("memory_capacity"))});
        }
        ledger.push_back({name, "ram", "-", size_or_dash(o.if_contains("ram_reserved")), size_or_dash(o.if_contains("ram_capacity"))});
    }
    std::cout << "\n";
    print_table(ledger);
    return kExitOk;
}

int load(const ParsedArgs& args) {
    auto target = resolve_admin_target(args);
    const std::string name = args.positionals.at(0);
    const std::string path = "/corral/models/" + proxy::url_encode(name) + "/load";
    if (args.flag("no-wait") || args.flag("json")) {
        auto reply = admin_request(target, "POST", path + (args.flag("no-wait") ? "?wait=0" : ""));
        if (reply.status != 200 && reply.status != 202) return fail(reply);
        if (args.flag("json")) {
            write_pretty_json(std::cout, boost::json::parse(reply.body));
        } else {
            std::cout << name << ": loading\n";
        }
        return kExitOk;
    }
    // Progress: the load streams the model's state events until it is ready or failed.
    const auto started = std::chrono::steady_clock::now();
    std::string pending, body;
    bool ok = false, finished = false;
    std::string message;
    int status = admin_stream(target, "POST", path, "text/event-stream", [&](int code, std::string_view data) {
        if (code != 200) {
            body += data;
            return true;
        }
        pending += data;
        for (auto end = pending.find("\n\n"); end != std::string::npos; end = pending.find("\n\n")) {
            std::string event = pending.substr(0, end);
            pending.erase(0, end + 2);
            if (event.rfind("data: ", 0) != 0) continue;
            boost::system::error_code ec;
            auto v = boost::json::parse(event.substr(6), ec);
            if (ec || !v.is_object()) continue;
            const auto& o = v.get_object();
            auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            std::ostringstream t;
            t << std::fixed << std::setprecision(1) << elapsed << "s";
            if (o.contains("ok")) {
                ok = o.at("ok").as_bool();
                message = std::string(o.at("message").as_string());
                finished = true;
                std::cout << (ok ? name + " is ready (" + t.str() + ")" : name + " failed: " + message) << std::endl;
                return false;
            }
            if (o.contains("state")) {
                std::cout << "[" << t.str() << "] " << name << ": " << o.at("state").as_string().c_str();
                if (o.contains("message")) std::cout << " (" << o.at("message").as_string().c_str() << ")";
                std::cout << std::endl;
            }
        }
        return true;
    });
    if (status != 200) return fail({status, "", body});
    if (!finished) {
        std::cerr << "corral: the connection closed before " << name << " was ready\n";
        return kExitFailure;
    }
    return ok ? kExitOk : kExitFailure;
}

int unload(const ParsedArgs& args) {
    auto target = resolve_admin_target(args);
    const std::string name = args.positionals.at(0);
    auto reply = admin_request(target, "POST", "/corral/models/" + proxy::url_encode(name) + "/unload");
    if (reply.status != 200) return fail(reply);
    if (args.flag("json")) {
        write_pretty_json(std::cout, boost::json::parse(reply.body));
    } else {
        std::cout << name << ": " << boost::json::parse(reply.body).at("state").as_string().c_str() << "\n";
    }
    return kExitOk;
}

int logs(const ParsedArgs& args) {
    auto target = resolve_admin_target(args);
    std::string path = "/corral/logs/" + proxy::url_encode(args.positionals.at(0)) + "?lines=" + args.value("lines").value_or("200");
    if (args.flag("follow")) {
        std::string body;
        int status = admin_stream(target, "GET", path + "&follow=1", "", [&](int code, std::string_view data) {
            if (code != 200) {
                body += data;
            } else {
                std::cout << data << std::flush;
            }
            return true;
        });
        return status == 200 ? kExitOk : fail({status, "", body});
    }
    auto reply = admin_request(target, "GET", path);
    if (reply.status != 200) return fail(reply);
    std::cout << reply.body;
    return kExitOk;
}

const char* const kClientDetails =
    "Talks to a running 'corral serve' (see --url, --config).\n"
    "Exit status: 0 success, 1 the request failed or corral is not reachable, 2 bad arguments or unknown model.";

}  // namespace

Command ps_command() {
    CommandSpec spec{
        "ps",
        "List the served models (state, machine and devices, requests in flight, queue, memory, uptime) and each machine's ledger.",
        {},
        admin_client_options(),
        kClientDetails};
    spec.options.push_back({"json", "", "Print /corral/status as JSON"});
    spec.options.push_back({"quiet", "", "Print only the model names, one per line (for scripts and shell completion)", false, 'q'});
    return {spec, ps};
}

Command load_command() {
    CommandSpec spec{
        "load", "Load a model now and show its progress until it is ready.", {"MODEL"}, admin_client_options(), kClientDetails};
    spec.options.push_back({"no-wait", "", "Return as soon as the load has started"});
    spec.options.push_back({"json", "", "Wait without progress and print the model's status as JSON"});
    return {spec, load};
}

Command unload_command() {
    CommandSpec spec{"unload",
                     "Stop a model's server (requests in flight fail) and wait until it is gone.",
                     {"MODEL"},
                     admin_client_options(),
                     kClientDetails};
    spec.options.push_back({"json", "", "Print the model's status as JSON"});
    return {spec, unload};
}

Command logs_command() {
    CommandSpec spec{"logs", "Print a model's (or instance's) server output.", {"MODEL"}, admin_client_options(), kClientDetails};
    spec.options.push_back({"follow", "", "Keep printing new lines until the server stops or Ctrl-C", false, 'f'});
    spec.options.push_back({"lines", "N", "Lines of history to print first (default: 200)"});
    return {spec, logs};
}

}  // namespace corral::cli
