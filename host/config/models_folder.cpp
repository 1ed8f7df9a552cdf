#include "config/models_folder.hpp"

#include "gguf/gguf_file.hpp"
#include "gguf/split_files.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace corral::config {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool ends_with_gguf(std::string_view name) {
    return name.size() > 5 && lower(name.substr(name.size() - 5)) == ".gguf";
}

std::string_view stem_of(std::string_view file_name) {
    return ends_with_gguf(file_name) ? file_name.substr(0, file_name.size() - 5) : file_name;
}

bool is_projector(std::string_view file_name) {
    return lower(file_name).rfind("mmproj", 0) == 0;
}

}  // namespace

std::string model_name_for_file(std::string_view file_name) {
    auto stem = stem_of(file_name);
    if (gguf::split_suffix(stem)) stem.remove_suffix(15);
    std::string name = lower(stem);
    for (auto& c : name) {
        if (std::isspace(static_cast<unsigned char>(c)) || !std::isprint(static_cast<unsigned char>(c))) c = '-';
    }
    return name;
}

FolderDiscovery discover_models(const std::vector<FolderFile>& files) {
    FolderDiscovery out;
    struct Candidate {
        fs::path path;        // the file, or a split model's first part
        std::set<int> parts;  // a split model's parts found
        int count = 0;        // a split model's parts in all (1: a whole file)
        std::vector<std::string> file_names;
        bool clash = false;  // two files give this name (Foo.gguf and foo.gguf, a whole file and a split set)
        std::optional<std::string> unfinished;
    };
    // By folder, then by name: a split model's parts meet under one name; the same name in two
    // folders is a clash.
    std::map<fs::path, std::map<std::string, Candidate>> folders;
    std::map<fs::path, std::vector<fs::path>> projectors;
    std::map<std::string, std::vector<fs::path>> names;  // name -> folders it appears in
    for (const auto& f : files) {
        const std::string file_name = f.path.filename().string();
        if (!ends_with_gguf(file_name)) continue;
        const fs::path folder = f.path.parent_path();
        if (is_projector(file_name)) {
            if (f.unfinished)
                out.problems.push_back({f.path, "left out for now: " + *f.unfinished});
            else
                projectors[folder].push_back(f.path);
            continue;
        }
        const auto name = model_name_for_file(file_name);
        auto& c = folders[folder][name];
        const auto split = gguf::split_suffix(stem_of(file_name));
        const auto [part, count] = split.value_or(std::pair{1, 1});
        if ((c.count != 0 && c.count != count) || !c.parts.insert(part).second) c.clash = true;
        c.count = count;
        c.file_names.push_back(file_name);
        if (c.path.empty() || part == 1) c.path = f.path;
        if (f.unfinished && !c.unfinished) c.unfinished = f.path.filename().string() + ": " + *f.unfinished;
        if (names[name].empty() || names[name].back() != folder) names[name].push_back(folder);
    }
    for (auto& [folder, candidates] : folders) {
        for (auto& [name, c] : candidates) {
            if (names[name].size() > 1) {
                std::string others;
                for (const auto& f : names[name]) others += (others.empty() ? "" : ", ") + f.string();
                out.problems.push_back({c.path, "left out: the name \"" + name + "\" is given by files in several folders (" + others +
                                                    "); rename one or name it under \"models\""});
                continue;
            }
            if (c.clash) {
                std::string list;
                for (const auto& f : c.file_names) list += (list.empty() ? "" : ", ") + f;
                out.problems.push_back({c.path, "left out: the name \"" + name + "\" is given by several files in " + folder.string() +
                                                    " (" + list + "); rename one or name it under \"models\""});
                continue;
            }
            if (static_cast<int>(c.parts.size()) != c.count || *c.parts.begin() != 1) {
                out.problems.push_back({c.path, "left out for now: " + std::to_string(c.parts.size()) + " of the " +
                                                    std::to_string(c.count) + " parts of \"" + name + "\" are there"});
                continue;
            }
            if (c.unfinished) {
                out.problems.push_back({c.path, "left out for now: " + *c.unfinished});
                continue;
            }
            out.models.push_back({name, c.path, std::nullopt});
        }
    }
    // Projectors: the folder's one model, else the model their name names.
    for (auto& [folder, paths] : projectors) {
        std::vector<FolderModel*> here;
        for (auto& m : out.models) {
            if (m.path.parent_path() == folder) here.push_back(&m);
        }
        for (const auto& p : paths) {
            FolderModel* owner = nullptr;
            if (here.size() == 1) {
                owner = here.front();
            } else {
                auto rest = model_name_for_file(p.filename().string()).substr(6);  // after "mmproj"
                if (!rest.empty() && (rest.front() == '-' || rest.front() == '_' || rest.front() == '.')) rest.erase(0, 1);
                for (auto* m : here) {
                    if (m->name == rest) owner = m;
                }
            }
            if (!owner) {
                out.problems.push_back({p, "not used: " + std::to_string(here.size()) +
                                               " models share its folder; name it mmproj-MODEL.gguf after the one it belongs to"});
            } else if (owner->mmproj) {
                out.problems.push_back({p, "not used: \"" + owner->name + "\" already has " + owner->mmproj->filename().string()});
            } else {
                owner->mmproj = p;
            }
        }
    }
    std::sort(out.models.begin(), out.models.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

bool skipped_folder(const fs::path& folder) {
    const auto name = folder.filename().string();
    return name == "quarantine" || name.starts_with('.');
}

std::vector<FolderFile> list_model_files(const fs::path& dir, std::vector<FolderProblem>& problems) {
    std::vector<FolderFile> out;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
        problems.push_back({dir, "cannot read the folder: " + ec.message()});
        return out;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) {
            problems.push_back({dir, "cannot read the folder: " + ec.message()});
            break;
        }
        const auto& entry = *it;
        if (entry.is_directory(ec) && skipped_folder(entry.path())) {
            it.disable_recursion_pending();
            continue;
        }
        if (!entry.is_regular_file(ec) || !ends_with_gguf(entry.path().filename().string())) continue;
        FolderFile f{fs::absolute(entry.path()), std::nullopt};
        try {
            const auto file = gguf::read_file(f.path);
            uint64_t end = 0;  // where the last tensor's data ends
            for (const auto& t : file.tensors) end = std::max(end, file.data_offset + t.offset + t.bytes);
            if (end > file.size)
                f.unfinished = "its tensor data ends at byte " + std::to_string(end) + " but the file has " + std::to_string(file.size);
        } catch (const std::exception& e) {
            f.unfinished = std::string("not a whole GGUF file yet (") + e.what() + ")";
        }
        out.push_back(std::move(f));
    }
    return out;
}

}  // namespace corral::config
