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

int ps(const ParsedArgs& args) {
    auto target = resolve_admin_target(args);
    auto reply = admin_request(target, "GET", "/corral/status");
    if (reply.status != 200) return fail(reply);
    auto status = boost::json::parse(reply.body);
    if (args.flag("json")) {
        write_pretty_json(std::cout, status);
        return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {{"MODEL", "STATE", "RUNNER", "REQUESTS", "QUEUED", "MEMORY", "UP", "IDLE", "ENDPOINT"}};
    for (const auto& m : status.at("models").as_array()) {
        const auto& o = m.as_object();
        auto text = [&](const char* k) { return o.contains(k) ? std::string(o.at(k).as_string()) : std::string("-"); };
        auto secs = [&](const char* k) { return o.contains(k) ? seconds_text(o.at(k).to_number<double>()) : std::string("-"); };
        uint64_t memory = o.at("memory").to_number<uint64_t>();
        rows.push_back({text("name"), text("state"), text("runner"), std::to_string(o.at("in_flight").to_number<int64_t>()),
                        std::to_string(o.at("queued").to_number<int64_t>()), memory ? config::format_size(memory) : "-",
                        secs("uptime_seconds"), secs("idle_seconds"), text("endpoint")});
    }
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
        "ps", "List the served models: state, requests in flight, queue, memory, uptime.", {}, admin_client_options(), kClientDetails};
    spec.options.push_back({"json", "", "Print /corral/status as JSON"});
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
