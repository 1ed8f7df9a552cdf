// corral pull SOURCE: downloads a model file (an http(s) URL or hf:ORG/REPO/FILE.gguf[@REVISION])
// into a models folder, resumable, verified and renamed into place whole (pull/pull.hpp).
#include "cli/commands.hpp"
#include "cli/pull_progress.hpp"
#include "config/config_loader.hpp"
#include "crypto/sha256.hpp"
#include "pull/pull.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

namespace corral::cli {
namespace {

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::filesystem::path target_dir(const ParsedArgs& args) {
    if (auto to = args.value("to")) return *to;
    if (auto file = args.value("config")) {
        auto loaded = config::load_config_file(*file);
        if (!loaded.config) throw UsageError(*file + " is not a valid config (corral config check " + *file + " says why)");
        if (loaded.config->models_dirs.empty()) throw UsageError(*file + " has no models_dir: say where the file goes with --to DIR");
        return loaded.config->models_dirs.front();
    }
    return std::filesystem::current_path();
}

int pull(const ParsedArgs& args) {
    pull::PullOptions o;
    try {
        o.source = pull::parse_pull_source(args.positionals.at(0), env_or_empty("HF_ENDPOINT"));
        o.file_name = pull::target_file_name(o.source, args.value("name"));
    } catch (const pull::SourceError& e) {
        throw UsageError(e.what());
    }
    if (auto hex = args.value("sha256")) {
        o.expected_sha256 = crypto::normalized_sha256_hex(*hex);
        if (!o.expected_sha256) throw UsageError("--sha256 expects 64 hex digits, got '" + *hex + "'");
        if (pull::files_to_pull(o.source, o.file_name).size() > 1) {
            throw UsageError("'" + o.source.text +
                             "' is a part of a split model, whose parts each have their own digest: --sha256 names one file");
        }
    }
    o.dir = target_dir(args);
    o.hf_token = env_or_empty("HF_TOKEN");
    if (o.hf_token.empty()) o.hf_token = env_or_empty("HUGGING_FACE_HUB_TOKEN");
    o.ca_file = args.value("cacert").value_or("");
    if (auto retries = args.integer("retries")) {
        if (*retries < 0 || *retries > 100) throw UsageError("--retries expects 0 to 100");
        o.retries = *retries;
    }
    using Style = PullProgress::Style;
    const Style style = args.flag("json") ? Style::Json : ::isatty(STDERR_FILENO) ? Style::Bar : Style::Lines;
    o.progress_interval = style == Style::Bar ? std::chrono::milliseconds(200) : std::chrono::milliseconds(1000);
    PullProgress view(style, std::cout, std::cerr, o.file_name);
    o.on_event = [&](const pull::PullEvent& e) { view.show(e, std::chrono::steady_clock::now()); };
    // A file-size limit (ulimit -f) is then a write error reported like a full disk, not a kill.
    std::signal(SIGXFSZ, SIG_IGN);
    const auto result = pull::run_pull(o);
    return result.kind == pull::PullEvent::Kind::Done ? kExitOk : kExitFailure;
}

}  // namespace

Command pull_command() {
    CommandSpec spec{
        "pull",
        "Download a model file, resumable and verified, into a models folder.",
        {"SOURCE"},
        {{"sha256", "HEX", "The file's SHA-256: a mismatch is quarantined, not kept (hf: sources use the published one by default)"},
         {"to", "DIR", "Folder to save into (default: the --config file's first models_dir, else the current folder)"},
         {"name", "NAME", "Save as NAME.gguf (default: the source's file name)"},
         {"config", "FILE", "Take the folder from this config file's models_dir"},
         {"cacert", "FILE", "Trust the certificates in FILE (PEM) instead of the system's (also CURL_CA_BUNDLE)"},
         {"retries", "N", "Attempts after a network failure, timeout, 429 or 5xx, each resuming (default 3)"},
         {"json", "", "One JSON object per line: start, progress, retry, done or error"}},
        "SOURCE is an http(s) URL or hf:ORG/REPO/FILE.gguf[@REVISION] (a Hugging Face repository; HF_TOKEN is sent\n"
        "to it for gated or private ones, HF_ENDPOINT names another hub). Any part of a split model\n"
        "(NAME-00001-of-00003.gguf) pulls every part.\n\n"
        "The bytes go to NAME.gguf.partial; an interrupted pull resumes from there when run again. The SHA-256 is\n"
        "computed while downloading; a file that does not match goes to DIR/quarantine/ and both digests are\n"
        "printed. The whole file is renamed into place at once, so a models_dir watch serves it only then.\n"
        "Progress: a bar on a terminal, lines otherwise, JSON with --json; the saved path and digest on stdout.\n\n"
        "Exit status: 0 saved (or already there), 1 the pull failed (the error says why, --json adds a code:\n"
        "not_found, unauthorized, http_error, tls, network, timeout, no_space, io, digest_mismatch, exists),\n"
        "2 bad arguments."};
    return {spec, pull};
}

}  // namespace corral::cli
