#include "pull/pull_source.hpp"

#include "crypto/sha256.hpp"
#include "gguf/split_files.hpp"
#include "percent_escape.hpp"

#include <boost/algorithm/string/predicate.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <vector>

namespace corral::pull {
namespace {

using boost::algorithm::iends_with;
using boost::algorithm::istarts_with;

// Percent-encodes one path segment (RFC 3986 unreserved characters kept).
std::string encode_segment(std::string_view segment) {
    return plugin_common::percent_escape(
        segment, [](unsigned char c, bool) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; });
}

bool plain_segment(std::string_view s) {
    return !s.empty() && s != "." && s != "..";
}

PullSource hugging_face_source(std::string_view text, std::string_view spec, std::string_view endpoint) {
    const std::string usage = "expected hf:ORG/REPO/FILE.gguf[@REVISION], e.g. hf:ggml-org/models/tinyllamas/stories260K.gguf";
    PullSource s;
    s.text = std::string(text);
    s.hugging_face = true;
    s.revision = "main";
    if (auto at = spec.rfind('@'); at != std::string_view::npos) {
        s.revision = std::string(spec.substr(at + 1));
        spec = spec.substr(0, at);
        if (s.revision.empty()) throw SourceError("'" + s.text + "': the revision after @ is empty; " + usage);
    }
    std::vector<std::string_view> parts;
    for (std::size_t pos = 0; pos <= spec.size();) {
        auto slash = spec.find('/', pos);
        if (slash == std::string_view::npos) slash = spec.size();
        parts.push_back(spec.substr(pos, slash - pos));
        pos = slash + 1;
    }
    if (parts.size() < 3) throw SourceError("'" + s.text + "' names no file in the repository; " + usage);
    for (auto p : parts) {
        if (!plain_segment(p)) throw SourceError("'" + s.text + "' has an empty, '.' or '..' path segment; " + usage);
    }
    s.repo = std::string(parts[0]) + "/" + std::string(parts[1]);
    s.file_name = std::string(parts.back());
    std::string base(endpoint.empty() ? "https://huggingface.co" : endpoint);
    while (!base.empty() && base.back() == '/') base.pop_back();
    s.url = base + "/" + encode_segment(parts[0]) + "/" + encode_segment(parts[1]) + "/resolve/" + encode_segment(s.revision);
    for (std::size_t i = 2; i < parts.size(); ++i) s.url += "/" + encode_segment(parts[i]);
    return s;
}

// "-00002-of-00003" when `name` is a part of a split set (NAME-00002-of-00003.gguf).
std::optional<std::string> split_suffix_of(std::string_view name) {
    if (name.size() <= 20 || !iends_with(name, ".gguf")) return std::nullopt;
    const auto stem = name.substr(0, name.size() - 5);
    if (!gguf::split_suffix(stem)) return std::nullopt;
    return std::string(stem.substr(stem.size() - 15));
}

// `text` with the last `from` before its query replaced by `to`.
std::string replace_last(std::string text, const std::string& from, const std::string& to) {
    const auto query = text.find_first_of("?#");
    const auto at = text.rfind(from, query == std::string::npos ? std::string::npos : query);
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
}

}  // namespace

PullSource parse_pull_source(std::string_view text, std::string_view hf_endpoint) {
    if (istarts_with(text, "hf:")) return hugging_face_source(text, text.substr(3), hf_endpoint);
    if (!istarts_with(text, "http://") && !istarts_with(text, "https://")) {
        throw SourceError("'" + std::string(text) + "' is neither an http(s) URL nor hf:ORG/REPO/FILE.gguf[@REVISION]");
    }
    for (unsigned char c : text) {
        if (c <= ' ' || c == 0x7f)
            throw SourceError("the URL '" + std::string(text) + "' holds spaces or control characters (percent-encode them)");
    }
    PullSource s;
    s.text = std::string(text);
    s.url = std::string(text);
    auto rest = text.substr(text.find("//") + 2);
    const auto path_start = rest.find_first_of("/?#");
    if (path_start == 0 || rest.empty()) throw SourceError("the URL '" + s.text + "' has no host");
    if (path_start != std::string_view::npos && rest[path_start] == '/') {
        auto path = rest.substr(path_start);
        path = path.substr(0, path.find_first_of("?#"));
        auto name = plugin_common::percent_unescape(path.substr(path.rfind('/') + 1));
        if (!name) throw SourceError("the URL '" + s.text + "' has a bad %-escape in its file name");
        s.file_name = std::move(*name);
    }
    return s;
}

std::string target_file_name(const PullSource& source, const std::optional<std::string>& name) {
    std::string file = name ? *name : source.file_name;
    if (name) {
        if (file.empty()) throw SourceError("--name is empty");
        if (!iends_with(file, ".gguf")) file += ".gguf";
        // A part of a split set keeps its part number: llama.cpp finds the other parts by it.
        if (auto suffix = split_suffix_of(source.file_name); suffix && !split_suffix_of(file)) {
            file = file.substr(0, file.size() - 5) + *suffix + ".gguf";
        }
    } else if (file.size() <= 5 || !iends_with(file, ".gguf")) {
        throw SourceError("'" + source.text + "' does not end in a .gguf file name; say what to save it as with --name NAME");
    }
    const bool plain = file.find('/') == std::string::npos && file.find('\0') == std::string::npos && file.front() != '.' &&
                       file.size() <= 255 && std::none_of(file.begin(), file.end(), [](unsigned char c) { return c < ' ' || c == 0x7f; });
    if (!plain) throw SourceError("'" + file + "' is not a plain file name (no '/', control characters or leading '.')");
    return file;
}

std::vector<PullFile> files_to_pull(const PullSource& source, const std::string& file_name) {
    const auto from = split_suffix_of(source.file_name);
    if (!from || split_suffix_of(file_name) != from) return {{source, file_name}};
    const int count = std::stoi(from->substr(10, 5));  // "-00002-of-00003"
    std::vector<PullFile> parts;
    for (int i = 1; i <= count; ++i) {
        char part[32];
        std::snprintf(part, sizeof part, "-%05d-of-%05d", i, count);
        PullFile f{source, replace_last(file_name, *from, part)};
        f.source.url = replace_last(source.url, *from, part);  // digits and dashes: the same encoded or not
        f.source.text = replace_last(source.text, *from, part);
        f.source.file_name = replace_last(source.file_name, *from, part);
        parts.push_back(std::move(f));
    }
    return parts;
}

std::optional<std::string> published_sha256(const std::map<std::string, std::string>& headers) {
    for (const char* name : {"x-linked-etag", "etag"}) {
        auto it = headers.find(name);
        if (it == headers.end()) continue;
        std::string_view v = it->second;
        if (v.starts_with("W/")) v.remove_prefix(2);
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        if (auto hex = crypto::normalized_sha256_hex(v)) return hex;
    }
    return std::nullopt;
}

}  // namespace corral::pull
