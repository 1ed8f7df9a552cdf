#include "remote_scripts.hpp"

#include "percent_escape.hpp"
#include "shell_quote.hpp"

#include <charconv>
#include <stdexcept>

namespace corral::ssh {

using plugin_common::shell_join;
using plugin_common::shell_quote;
namespace {

// `sh -c '<script>' <name> <args...>`, every word quoted for the login shell.
std::string script_command(const char* script, const std::string& name, const std::vector<std::string>& args) {
    std::vector<std::string> words = {"sh", "-c", script, name};
    words.insert(words.end(), args.begin(), args.end());
    return shell_join(words);
}

// Runs as the server's parent, in a session of its own: takes the instance lock (the server inherits
// it), starts the server in yet another session (so a signal to its group leaves the wrapper to record
// the status), prints its pid once, then waits and writes the exit status.
constexpr const char* kWrapper = R"sh(d=$1; shift
exec 9>"$d/lock"
flock -n 9 || { echo "corral: an instance is already running in $d" >&2; exit 5; }
setsid "$@" </dev/null >>"$d/log" 2>&1 &
p=$!
echo "$p" >"$d/pid"
echo "$p"
exec >/dev/null 2>&1
trap '' HUP INT TERM
wait "$p"
s=$?
echo "$s" >"$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"
)sh";

constexpr const char* kLaunch = R"sh(wrapper=$1 d=$2 w=$3 m=$4 r=$5 b=$6; shift 6
while IFS= read -r kv; do
  k=${kv%%=*}
  case $k in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac
  export "$k=${kv#*=}"
done
for t in flock setsid tail; do
  command -v "$t" >/dev/null 2>&1 || { echo "corral: the remote host has no $t (util-linux, coreutils)" >&2; exit 7; }
done
mkdir -p "$d" 2>/dev/null && d=$(cd "$d" && pwd) || { echo "corral: cannot create the remote state directory $d" >&2; exit 6; }
if [ -n "$w" ]; then cd "$w" 2>/dev/null || { echo "corral: remote working directory not found: $w" >&2; exit 8; }; fi
command -v "$b" >/dev/null 2>&1 || { echo "corral: remote llama-server binary not found or not executable: $b" >&2; exit 4; }
[ -f "$m" ] && [ -r "$m" ] || { echo "corral: model file not found or not readable on the remote host: $m" >&2; exit 3; }
flock -n "$d/lock" true || { echo "corral: an instance is already running in $d" >&2; exit 5; }
rm -f "$d/exit" "$d/pid"
: >"$d/log"
printf '%s\n' "$r" >"$d/handle.json"
pid=$(setsid sh -c "$wrapper" corral-wrapper "$d" "$@" </dev/null 2>>"$d/log" &)
[ -n "$pid" ] || { echo "corral: the server did not start" >&2; tail -n 20 "$d/log" >&2; exit 1; }
echo "pid $pid"
)sh";

constexpr const char* kAttach = R"sh(d=$1
[ -f "$d/lock" ] || { printf '\036corral-exit unknown 0\n'; exit 0; }
tail -c "+$2" -f "$d/log" 2>/dev/null &
t=$!
flock -s "$d/lock" true
kill "$t" 2>/dev/null
wait "$t" 2>/dev/null
s=$(cat "$d/exit" 2>/dev/null) || s=unknown
n=$(wc -c <"$d/log" 2>/dev/null) || n=0
printf '\n\036corral-exit %s %s\n' "${s:-unknown}" $n
)sh";

constexpr const char* kReadLog = R"sh(tail -c "+$2" "$1/log" 2>/dev/null
exit 0
)sh";

constexpr const char* kListeners = R"sh(id -u && cat /proc/net/tcp && echo @ && { cat /proc/net/tcp6 2>/dev/null; true; }
)sh";

constexpr const char* kSignal = R"sh(d=$1
[ -f "$d/lock" ] || exit 3
flock -n "$d/lock" true && exit 3
p=$(cat "$d/pid" 2>/dev/null)
[ -n "$p" ] || exit 3
kill -s "$2" -- "-$p" 2>/dev/null || kill -s "$2" "$p" 2>/dev/null || exit 3
)sh";

// A lock flock cannot take is held, unless its file went meanwhile: the host removes an ended
// instance's directory while others may be asking (flock then fails to open it).
constexpr const char* kStatus = R"sh(d=$1
[ -f "$d/lock" ] || { echo gone; exit 0; }
if flock -n "$d/lock" true || [ ! -f "$d/lock" ]; then
  echo "gone $(cat "$d/exit" 2>/dev/null)"
  rm -rf "$d"
  exit 0
fi
n=$(wc -c <"$d/log" 2>/dev/null) || n=0
echo "running $(cat "$d/pid" 2>/dev/null)" $n
)sh";

constexpr const char* kList = R"sh([ -d "$1" ] || exit 0
for d in "$1"/*; do
  [ -f "$d/handle.json" ] && [ -f "$d/lock" ] || continue
  flock -n "$d/lock" true && continue
  [ -f "$d/lock" ] || continue
  tr -d '\n' <"$d/handle.json"
  echo
done
exit 0
)sh";

constexpr const char* kHelp = R"sh(b=$1; shift
command -v "$b" >/dev/null 2>&1 || exit 127
env "$@" "$b" --help 2>&1
)sh";

std::vector<std::string> env_words(const std::map<std::string, std::string>& env) {
    std::vector<std::string> out;
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

}  // namespace

std::string instance_dir_name(const std::string& instance_id) {
    auto out = plugin_common::percent_escape(instance_id, [](unsigned char c, bool first) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || (c == '.' && !first);
    });
    return out.empty() ? "%" : out;
}

std::string launch_command(const LaunchRequest& r) {
    std::vector<std::string> args = {kWrapper, r.instance_dir, r.working_dir, r.model_path, r.record, r.binary, r.binary};
    args.insert(args.end(), r.args.begin(), r.args.end());
    // The cache directory is best effort: a server that cannot save there only loses its caches.
    const auto prepare = r.cache_dir.empty() ? std::string() : shell_join({"mkdir", "-p", "--", r.cache_dir}) + " 2>/dev/null; ";
    return prepare + script_command(kLaunch, "corral-launch", args);
}

std::string launch_input(const LaunchRequest& r) {
    std::string input;
    for (const auto& [k, v] : r.env) {
        if (k.empty() || k.find_first_of("=\n") != std::string::npos || v.find('\n') != std::string::npos)
            throw std::invalid_argument("environment variable \"" + k + "\": names and values must be one line (names without '=')");
        input += k + "=" + v + "\n";
    }
    return input;
}

std::string attach_command(const std::string& instance_dir, uint64_t offset) {
    return script_command(kAttach, "corral-attach", {instance_dir, std::to_string(offset + 1)});
}

std::string read_log_command(const std::string& instance_dir, uint64_t offset) {
    return script_command(kReadLog, "corral-read-log", {instance_dir, std::to_string(offset + 1)});
}

std::string signal_command(const std::string& instance_dir, const std::string& signal) {
    return script_command(kSignal, "corral-signal", {instance_dir, signal});
}

std::string listeners_command() {
    return script_command(kListeners, "corral-listeners", {});
}

std::string status_command(const std::string& instance_dir) {
    return script_command(kStatus, "corral-status", {instance_dir});
}

std::string list_command(const std::string& state_dir) {
    return script_command(kList, "corral-list", {state_dir});
}

std::string forget_command(const std::string& instance_dir) {
    return remove_command({instance_dir});
}

std::string remove_command(const std::vector<std::string>& paths) {
    std::vector<std::string> words = {"rm", "-rf", "--"};
    words.insert(words.end(), paths.begin(), paths.end());
    return shell_join(words);
}

std::string home_command() {
    return "printf '%s\\n' \"$HOME\"";
}

std::string list_files_command(const std::string& dir) {
    return script_command(R"sh([ -d "$1" ] || exit 0; find "$1" -type f -printf '%s %T@ %P\n')sh", "corral-list-files", {dir});
}

std::vector<sdk::StoredFile> parse_file_list(const std::vector<std::string>& lines) {
    std::vector<sdk::StoredFile> out;
    for (const auto& line : lines) {
        const auto first = line.find(' ');
        const auto second = first == std::string::npos ? std::string::npos : line.find(' ', first + 1);
        if (second == std::string::npos || second + 1 >= line.size()) continue;
        try {
            std::size_t used = 0;
            const auto bytes = std::stoull(line.substr(0, first), &used);
            if (used != first) continue;
            const auto seconds = std::stod(line.substr(first + 1, second - first - 1), &used);
            if (used != second - first - 1) continue;
            out.push_back({line.substr(second + 1), bytes, static_cast<int64_t>(seconds * 1000.0)});
        } catch (const std::exception&) {
            continue;  // std::invalid_argument, std::out_of_range
        }
    }
    return out;
}

std::string help_command(const std::string& binary, const std::map<std::string, std::string>& env) {
    std::vector<std::string> args = {binary};
    for (auto& e : env_words(env)) args.push_back(std::move(e));
    return script_command(kHelp, "corral-help", args);
}

std::optional<RemoteExit> parse_exit_marker(const std::string& line) {
    if (line.rfind(kExitMarker, 0) != 0) return std::nullopt;
    std::string rest = line.substr(kExitMarker.size());
    auto space = rest.find(' ');
    std::string status = rest.substr(0, space);
    RemoteExit out;
    if (space != std::string::npos) {
        auto size = rest.substr(space + 1);
        std::from_chars(size.data(), size.data() + size.size(), out.log_size);
    }
    int value = 0;
    auto [end, ec] = std::from_chars(status.data(), status.data() + status.size(), value);
    if (ec == std::errc() && end == status.data() + status.size()) out.status = plugin_common::exit_status_from_code(value);
    return out;
}

}  // namespace corral::ssh
