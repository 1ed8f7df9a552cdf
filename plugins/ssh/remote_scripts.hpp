// The POSIX sh scripts the ssh runner runs on the remote host, as complete command lines for ssh.
//
// Every server gets a directory <state>/<instance> on the remote host:
//   lock         held (flock) by a small wrapper shell and the server for as long as either lives;
//                watchers block on it, so an exit is learnt from the kernel, not by polling
//   pid          the server's pid (it leads its own session and process group)
//   log          the server's stdout and stderr
//   exit         the server's exit status, written by the wrapper when it ends
//   handle.json  the handle corral reported, for list_running() and adopt() after a host restart
//
// Each script is passed as `sh -c '<script>' corral-<name> <quoted arguments>`: the remote login
// shell only ever sees quoted words, and the script reads its arguments as "$1"... without expanding
// them again. The remote host needs sh, flock and setsid (util-linux), tail, kill and wc.
#pragma once

#include "child_process.hpp"

#include <corral/sdk/types.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::ssh {

// Exit codes of the launch script that mean a configuration error (anything else is a failed start).
enum LaunchExit : int {
    kLaunchModelMissing = 3,
    kLaunchBinaryMissing = 4,
    kLaunchAlreadyRunning = 5,
    kLaunchStateDirUnusable = 6,
    kLaunchToolsMissing = 7,
    kLaunchWorkingDirMissing = 8,
};

// The first bytes of the line the attach script prints when the server has ended; the rest is
// "<status> <log size>" (status: the exit code, 128 + signal, or "unknown").
inline constexpr std::string_view kExitMarker =
    "\x1e"
    "corral-exit ";

// A directory name for an instance id: the id itself when it is plain, else %XX-escaped.
std::string instance_dir_name(const std::string& instance_id);

struct LaunchRequest {
    std::string instance_dir;  // <state>/<instance>, relative to the remote home or absolute
    std::string working_dir;   // empty: the remote home
    std::string binary;        // remote llama-server
    std::string model_path;    // checked to be a readable file before the start
    std::map<std::string, std::string> env;
    std::vector<std::string> args;
    std::string record;     // handle.json's content
    std::string cache_dir;  // created first when not empty (the server's --slot-save-path)
};

// Starts the server detached (own session, output to the log) and prints its pid on a line.
std::string launch_command(const LaunchRequest& request);
// What the launch command reads on its stdin: the server's environment, one NAME=VALUE a line (so
// values such as the server's key never appear on a command line, here or on the remote host).
// Throws std::invalid_argument for a name or value that is not one line.
std::string launch_input(const LaunchRequest& request);

// Streams the log from byte `offset` (0-based) until the server has ended, then prints the exit marker.
std::string attach_command(const std::string& instance_dir, uint64_t offset);

// Prints the log from byte `offset` to its end (what an attach stopped short of).
std::string read_log_command(const std::string& instance_dir, uint64_t offset);

// Sends `signal` ("TERM", "KILL") to the server's process group. Exit 3 when it is not running.
std::string signal_command(const std::string& instance_dir, const std::string& signal);

// Prints "running <pid> <log size>" for a live server; otherwise prints "gone [<status>]" and removes
// its directory.
std::string status_command(const std::string& instance_dir);

// Prints handle.json of every live server under `state_dir`, one per line.
std::string list_command(const std::string& state_dir);

// Removes an ended server's directory.
std::string forget_command(const std::string& instance_dir);

// Prints the login's uid, the kernel's IPv4 socket table, a line "@", then its IPv6 table (empty
// without IPv6): what the ready checks read for another user's listener on a server's port. Fails
// where there is no /proc/net/tcp (not Linux).
std::string listeners_command();

// Removes files and directories (with their contents); missing ones are no error.
std::string remove_command(const std::vector<std::string>& paths);

// Prints the remote home directory (what relative remote paths are relative to).
std::string home_command();

// Prints "<bytes> <modified, seconds since the epoch> <path relative to dir>" for every regular file
// under `dir` (GNU find), nothing when `dir` does not exist.
std::string list_files_command(const std::string& dir);
// Those lines as files; lines that are not in that form are skipped.
std::vector<sdk::StoredFile> parse_file_list(const std::vector<std::string>& lines);

// Runs `binary --help` with `env` added; exit 127 when the binary is not there.
std::string help_command(const std::string& binary, const std::map<std::string, std::string>& env);

// What the attach script's marker says: the server's exit status (none when it was not recorded)
// and the size its log ended at.
struct RemoteExit {
    std::optional<plugin_common::ExitStatus> status;
    uint64_t log_size = 0;
};
std::optional<RemoteExit> parse_exit_marker(const std::string& line);

}  // namespace corral::ssh
