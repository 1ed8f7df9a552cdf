#include "run_command.hpp"

#include <unistd.h>

#include <cstdlib>
#include <future>
#include <map>
#include <mutex>

extern char** environ;

namespace corral::plugin_common {

std::string join_nonempty_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) {
        if (l.empty()) continue;
        out += (out.empty() ? "" : "\n") + l;
    }
    return out;
}

std::string CommandOutput::stdout_text() const {
    std::string text;
    for (const auto& l : out) text += (text.empty() ? "" : "\n") + l;
    return text;
}

std::string CommandOutput::all_text() const {
    std::string text;
    for (const auto& l : out) text += l + "\n";
    for (const auto& l : err) text += l + "\n";
    return text;
}

std::string CommandOutput::error_text() const {
    auto text = join_nonempty_lines(err);
    if (text.empty()) text = join_nonempty_lines(out);
    if (text.empty()) text = code ? "exit status " + std::to_string(*code) : "killed";
    return text;
}

CommandOutput run_command(boost::asio::io_context& io, const std::filesystem::path& binary, const std::vector<std::string>& args,
                          const std::vector<std::string>& env, std::chrono::milliseconds timeout, const std::optional<std::string>& input) {
    struct Shared {
        std::mutex mutex;
        CommandOutput result;
        std::promise<void> done;
    };
    auto shared = std::make_shared<Shared>();
    auto process = ChildProcess::spawn(
        io, binary, args, env,
        [shared](const char* stream, const std::string& line) {
            std::lock_guard lock(shared->mutex);
            (std::string_view(stream) == "stdout" ? shared->result.out : shared->result.err).push_back(line);
        },
        [shared](const ExitStatus& status) {
            {
                std::lock_guard lock(shared->mutex);
                shared->result.code = status.code;
            }
            shared->done.set_value();
        },
        input.has_value());
    if (input) {
        process->write_stdin(*input);  // a command that does not read it sees EOF like any other
        process->close_stdin();
    }
    auto done = shared->done.get_future();
    if (done.wait_for(timeout) != std::future_status::ready) {
        process->stop(std::chrono::milliseconds(200));
        done.wait();
        std::lock_guard lock(shared->mutex);
        shared->result.code.reset();
        shared->result.err.push_back(binary.filename().string() + " gave no answer within " + std::to_string(timeout.count()) + " ms");
    }
    std::lock_guard lock(shared->mutex);
    return shared->result;
}

std::vector<std::string> environment_with(const std::vector<std::pair<std::string, std::string>>& extra) {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : extra) env[k] = v;
    std::vector<std::string> out;
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

std::optional<std::filesystem::path> find_executable(const std::string& name) {
    std::error_code ec;
    auto check = [&](const std::filesystem::path& p) { return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0; };
    if (name.find('/') != std::string::npos) {
        if (!check(name)) return std::nullopt;
        return std::filesystem::canonical(name, ec);
    }
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t pos = 0; pos <= dirs.size();) {
        auto end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        auto dir = dirs.substr(pos, end - pos);
        auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
        if (check(candidate)) return std::filesystem::canonical(candidate, ec);
        pos = end + 1;
    }
    return std::nullopt;
}

}  // namespace corral::plugin_common
