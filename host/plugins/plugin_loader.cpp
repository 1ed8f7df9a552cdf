#include "plugins/plugin_loader.hpp"

#include <boost/dll/library_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <regex>
#include <sstream>

namespace corral::plugins {
namespace {

std::string host_supports() {
    return "this host supports plugin ABI " + std::to_string(CORRAL_ABI_MAJOR) + ".0 to " + std::to_string(CORRAL_ABI_MAJOR) + "." +
           std::to_string(CORRAL_ABI_MINOR);
}

PluginRefusal refuse(const std::filesystem::path& file, std::string reason) {
    return {file, std::move(reason)};
}

// Copies a NUL-terminated string from the descriptor, bounded so a corrupt pointer to unterminated
// bytes cannot make us read forever.
std::string bounded(const char* s, std::size_t limit = 1 << 20) {
    if (!s) return {};
    std::size_t n = 0;
    while (n < limit && s[n] != '\0') ++n;
    return std::string(s, n);
}

bool valid_plugin_name(const std::string& name) {
    return !name.empty() && name.size() <= 64 &&
           std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// Which entry points the file's "corral" section lists; empty when it has none (or is not a library).
std::vector<std::string> section_entries(const std::filesystem::path& file, std::string& error) {
    try {
        boost::dll::library_info info(boost::dll::fs::path(file.string()), false);
        return info.symbols(CORRAL_PLUGIN_SECTION);
    } catch (const std::exception& e) {
        error = e.what();
        return {};
    }
}

std::optional<PluginRefusal> check_runner_vtable(const std::filesystem::path& file, const corral_runner_vtable* vt) {
    if (vt->struct_size < CORRAL_RUNNER_VTABLE_SIZE_1_0) {
        return refuse(file, "truncated runner vtable: " + std::to_string(vt->struct_size) + " bytes, plugin ABI " +
                                std::to_string(CORRAL_ABI_MAJOR) + ".0 needs " + std::to_string(CORRAL_RUNNER_VTABLE_SIZE_1_0));
    }
    const std::pair<const char*, bool> required[] = {
        {"create", vt->create != nullptr},
        {"destroy", vt->destroy != nullptr},
        {"start", vt->start != nullptr},
        {"stop", vt->stop != nullptr},
        {"is_running", vt->is_running != nullptr},
        {"health", vt->health != nullptr},
        {"list_running", vt->list_running != nullptr},
    };
    for (const auto& [name, present] : required) {
        if (!present) return refuse(file, std::string("runner vtable entry '") + name + "' is null");
    }
    return std::nullopt;
}

std::optional<PluginRefusal> check_probe_vtable(const std::filesystem::path& file, const corral_probe_vtable* vt) {
    if (vt->struct_size < sizeof(corral_probe_vtable)) {
        return refuse(file, "truncated probe vtable: " + std::to_string(vt->struct_size) + " bytes, plugin ABI " +
                                std::to_string(CORRAL_ABI_MAJOR) + ".0 needs " + std::to_string(sizeof(corral_probe_vtable)));
    }
    if (!vt->create || !vt->destroy || !vt->probe) return refuse(file, "probe vtable has a null entry (create, destroy or probe)");
    return std::nullopt;
}

}  // namespace

std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    const auto suffix = boost::dll::shared_library::suffix().string();
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == suffix) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

LoadOutcome load_plugin(const std::filesystem::path& file) {
    // 1. Without running code: is there an entry point for our ABI major?
    std::string info_error;
    auto entries = section_entries(file, info_error);
    if (!info_error.empty()) return refuse(file, "not a loadable shared library: " + info_error);
    if (std::find(entries.begin(), entries.end(), CORRAL_PLUGIN_ENTRY_V1) == entries.end()) {
        static const std::regex other_major("corral_plugin_entry_v([0-9]+)");
        for (const auto& e : entries) {
            std::smatch m;
            if (std::regex_match(e, m, other_major)) {
                return refuse(file, "built for plugin ABI major " + m[1].str() + "; " + host_supports() +
                                        " (rebuild it against a matching corral SDK)");
            }
        }
        return refuse(
            file, std::string("not a corral plugin: no ") + CORRAL_PLUGIN_ENTRY_V1 + " entry in section '" + CORRAL_PLUGIN_SECTION + "'");
    }

    // 2. Load it. A missing dependency or symbol shows up here with dlerror's text.
    boost::dll::shared_library library;
    try {
        auto mode =
            static_cast<boost::dll::load_mode::type>(boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local | RTLD_NODELETE);
        library.load(boost::dll::fs::path(file.string()), mode);
    } catch (const std::exception& e) {
        return refuse(file, std::string("cannot load: ") + e.what());
    }
    const void* entry_alias = nullptr;
    try {
        entry_alias = library.get<const void*>(CORRAL_PLUGIN_ENTRY_V1);
    } catch (const std::exception& e) {
        return refuse(file, std::string("cannot resolve ") + CORRAL_PLUGIN_ENTRY_V1 + ": " + e.what());
    }
    if (!entry_alias) return refuse(file, std::string(CORRAL_PLUGIN_ENTRY_V1) + " is null");
    auto entry = reinterpret_cast<corral_plugin_entry_v1_fn>(const_cast<void*>(entry_alias));
    const corral_plugin_descriptor* d = entry();

    // 3. The handshake.
    if (!d) return refuse(file, "the entry point returned no descriptor");
    if (d->magic != CORRAL_PLUGIN_MAGIC) return refuse(file, "bad descriptor magic: not a corral plugin descriptor");
    if (d->struct_size < sizeof(corral_plugin_descriptor)) {
        return refuse(file, "truncated descriptor: " + std::to_string(d->struct_size) + " bytes, plugin ABI " +
                                std::to_string(CORRAL_ABI_MAJOR) + ".0 needs " + std::to_string(sizeof(corral_plugin_descriptor)));
    }
    PluginInfo info;
    info.path = file;
    info.abi_major = d->abi_major;
    info.abi_minor = d->abi_minor;
    info.name = bounded(d->name, 256);
    info.version = bounded(d->version, 256);
    info.sdk_version = bounded(d->sdk_version, 256);
    info.build_fingerprint = bounded(d->build_fingerprint, 1024);
    info.description = bounded(d->description, 4096);
    info.config_schema = bounded(d->config_schema);
    info.capabilities = d->capabilities;
    std::string built_for = "built for plugin ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) + " with SDK " +
                            info.sdk_version + " (" + info.build_fingerprint + ")";
    if (d->abi_major != CORRAL_ABI_MAJOR) return refuse(file, built_for + "; " + host_supports());
    if (d->abi_minor > CORRAL_ABI_MINOR)
        return refuse(file, built_for + ", newer than this host: " + host_supports() + " (upgrade corral)");
    if (!valid_plugin_name(info.name)) {
        return refuse(file, "invalid plugin name \"" + info.name + "\" (expected 1 to 64 of a-z, 0-9 and _)");
    }
    if (!d->vtable) return refuse(file, "plugin \"" + info.name + "\" has no vtable");
    if (d->kind == CORRAL_KIND_RUNNER) {
        info.kind = PluginKind::Runner;
        if (auto r = check_runner_vtable(file, static_cast<const corral_runner_vtable*>(d->vtable))) return *r;
    } else if (d->kind == CORRAL_KIND_PROBE) {
        info.kind = PluginKind::Probe;
        if (auto r = check_probe_vtable(file, static_cast<const corral_probe_vtable*>(d->vtable))) return *r;
    } else {
        return refuse(
            file, "plugin \"" + info.name + "\" declares unknown kind " + std::to_string(d->kind) + " (expected 1 = runner or 2 = probe)");
    }
    return std::make_shared<Plugin>(std::move(library), d, std::move(info));
}

}  // namespace corral::plugins
