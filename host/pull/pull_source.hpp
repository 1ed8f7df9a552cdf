// What `corral pull SOURCE` fetches: an http(s) URL, or a file of a Hugging Face repository
// (`hf:ORG/REPO/FILE.gguf[@REVISION]`), and the name it is saved as. No I/O here.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace corral::pull {

class SourceError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

struct PullSource {
    std::string text;       // as given
    std::string url;        // what is downloaded
    std::string file_name;  // the URL's last path segment, decoded
    bool hugging_face = false;
    std::string repo;      // "ORG/REPO" (Hugging Face only)
    std::string revision;  // "main" unless @REVISION (Hugging Face only)
};

// Reads SOURCE. `hf_endpoint` is where Hugging Face repositories are served from (HF_ENDPOINT,
// https://huggingface.co when empty). Throws SourceError saying what is expected.
PullSource parse_pull_source(std::string_view text, std::string_view hf_endpoint = {});

// The file name a pull saves as: --name (".gguf" added when missing) or the source's own name.
// Throws SourceError for a name that is not a plain file name or a source without a .gguf name.
std::string target_file_name(const PullSource& source, const std::optional<std::string>& name);

// One file of what a pull fetches: its source and the name it is saved as.
struct PullFile {
    PullSource source;
    std::string file_name;
};

// Every part of a split model (llama.cpp's gguf-split: NAME-00001-of-00003.gguf, ...) when
// `file_name` is one of them, in order, each with its URL and saved name; else just that file.
// Naming any part pulls the whole set (a models_dir serves it once every part is there).
std::vector<PullFile> files_to_pull(const PullSource& source, const std::string& file_name);

// The SHA-256 a Hugging Face repository publishes for an LFS file, from the headers of a HEAD on
// its resolve URL (X-Linked-Etag, else ETag, when it is 64 hex digits; a git blob's 40-digit SHA-1
// is not one). Header names in lower case.
std::optional<std::string> published_sha256(const std::map<std::string, std::string>& headers);

}  // namespace corral::pull
