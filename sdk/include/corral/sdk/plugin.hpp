// corral SDK: turns a C++ ProcessRunner or SystemProbe class into a plugin.
//
//   #include <corral/sdk/plugin.hpp>
//   class MyRunner : public corral::sdk::ProcessRunner { ... };
//   CORRAL_RUNNER_PLUGIN(MyRunner, "my_runner", "1.0.0", "Runs servers my way", kMySchema,
//                        CORRAL_CAP_EXIT_EVENTS);
//
// The macro generates the descriptor, the vtable and noexcept trampolines: every exception a method
// throws becomes a status code plus its message, so nothing ever unwinds into the host.
// Use it exactly once per shared object, at global scope.
#pragma once

#include <corral/sdk/plugin_abi.h>
#include <corral/sdk/error.hpp>
#include <corral/sdk/host.hpp>
#include <corral/sdk/probe.hpp>
#include <corral/sdk/runner.hpp>
#include <corral/sdk/types.hpp>
#include <corral/sdk/version.hpp>

#include <boost/version.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#define CORRAL_SDK_STRINGIFY_(x) #x
#define CORRAL_SDK_STRINGIFY(x) CORRAL_SDK_STRINGIFY_(x)

#if defined(_LIBCPP_VERSION)
#define CORRAL_SDK_STDLIB "libc++ " CORRAL_SDK_STRINGIFY(_LIBCPP_VERSION)
#elif defined(__GLIBCXX__)
#define CORRAL_SDK_STDLIB "libstdc++ " CORRAL_SDK_STRINGIFY(__GLIBCXX__)
#else
#define CORRAL_SDK_STDLIB "unknown C++ library"
#endif

// What the plugin was built with; shown by `corral plugins inspect` when something does not load.
#define CORRAL_SDK_BUILD_FINGERPRINT \
    "compiler " __VERSION__ "; " CORRAL_SDK_STDLIB "; C++ " CORRAL_SDK_STRINGIFY(__cplusplus) "; Boost " BOOST_LIB_VERSION

namespace corral::sdk::detail {

inline void sink_write(corral_sink* sink, std::string_view text) noexcept {
    if (sink && sink->append && !text.empty()) sink->append(sink->ctx, text.data(), text.size());
}

inline std::string_view view(corral_str s) noexcept {
    return s.size ? std::string_view(s.data, s.size) : std::string_view();
}

// Runs `f` (returning the result text), writes the result or the error message, returns a status.
template <class F>
int32_t guarded(corral_sink* out, F&& f) noexcept {
    try {
        std::string result = f();
        sink_write(out, result);
        return CORRAL_OK;
    } catch (const Error& e) {
        sink_write(out, e.what());
        return static_cast<int32_t>(e.code());
    } catch (const std::exception& e) {
        sink_write(out, e.what());
        return CORRAL_INTERNAL;
    } catch (...) {
        sink_write(out, "unknown exception");
        return CORRAL_INTERNAL;
    }
}

inline boost::json::object parse_options(corral_str options_json) {
    auto text = view(options_json);
    if (text.empty()) return {};
    auto v = parse_json(text, "options");
    if (!v.is_object()) throw Error(ProcessError::Configuration, "options: expected object, got " + std::string(json_kind_name(v)));
    return std::move(v.get_object());
}

template <class Impl>
int32_t create_instance(const corral_host_api* host, corral_str options_json, void** out_self, corral_sink* err) noexcept {
    if (!out_self) return CORRAL_INTERNAL;
    *out_self = nullptr;
    return guarded(err, [&] {
        auto instance = std::make_unique<Impl>(Host(host), parse_options(options_json));
        *out_self = instance.release();  // ownership crosses to the host until destroy()
        return std::string();
    });
}

template <class Impl>
void destroy_instance(void* self) noexcept {
    std::unique_ptr<Impl> owned(static_cast<Impl*>(self));
}

template <class Impl>
struct RunnerTrampolines {
    static Impl& self(void* p) { return *static_cast<Impl*>(p); }
    static ProcessHandle handle(corral_str json) { return from_json<ProcessHandle>(parse_json(view(json), "handle"), "handle"); }

    static int32_t start(void* p, corral_str config_json, corral_sink* out) noexcept {
        return guarded(out, [&] {
            auto config = from_json<ServerConfig>(parse_json(view(config_json), "server_config"), "server_config");
            return boost::json::serialize(to_json(self(p).start(config)));
        });
    }
    static int32_t stop(void* p, corral_str handle_json, uint64_t grace_ms, corral_sink* out) noexcept {
        return guarded(out, [&] {
            self(p).stop(handle(handle_json), std::chrono::milliseconds(grace_ms));
            return std::string();
        });
    }
    static int32_t is_running(void* p, corral_str handle_json, int32_t* out_running, corral_sink* out) noexcept {
        return guarded(out, [&] {
            bool running = self(p).is_running(handle(handle_json));
            if (out_running) *out_running = running ? 1 : 0;
            return std::string();
        });
    }
    static int32_t health(void* p, corral_str handle_json, corral_sink* out) noexcept {
        return guarded(out, [&] { return boost::json::serialize(to_json(self(p).health(handle(handle_json)))); });
    }
    static int32_t list_running(void* p, corral_sink* out) noexcept {
        return guarded(out, [&] {
            boost::json::array handles;
            for (const auto& h : self(p).list_running()) handles.push_back(to_json(h));
            return boost::json::serialize(handles);
        });
    }
    static int32_t adopt(void* p, corral_str handle_json, corral_sink* out) noexcept {
        return guarded(out, [&] { return boost::json::serialize(to_json(self(p).adopt(handle(handle_json)))); });
    }
    static int32_t machines(void* p, corral_sink* out) noexcept {
        return guarded(out, [&] {
            boost::json::array list;
            for (const auto& m : self(p).machines()) list.push_back(to_json(m));
            return boost::json::serialize(list);
        });
    }
    static int32_t slot_cache_root(void* p, corral_sink* out) noexcept {
        return guarded(out, [&] { return boost::json::serialize(boost::json::value(self(p).slot_cache_root())); });
    }
    static int32_t list_files(void* p, corral_str dir, corral_sink* out) noexcept {
        return guarded(out, [&] {
            boost::json::array list;
            for (const auto& f : self(p).list_files(std::string(view(dir)))) list.push_back(to_json(f));
            return boost::json::serialize(list);
        });
    }
    static int32_t remove_files(void* p, corral_str paths_json, corral_sink* out) noexcept {
        return guarded(out, [&] {
            self(p).remove_files(JsonConvert<std::vector<std::string>>::read(parse_json(view(paths_json), "paths"), "paths"));
            return std::string();
        });
    }

    static const corral_runner_vtable* vtable() noexcept {
        static const corral_runner_vtable table{
            sizeof(corral_runner_vtable),
            &create_instance<Impl>,
            &destroy_instance<Impl>,
            &start,
            &stop,
            &is_running,
            &health,
            &list_running,
            &adopt,
            &machines,
            &slot_cache_root,
            &list_files,
            &remove_files,
        };
        return &table;
    }
};

template <class Impl>
struct ProbeTrampolines {
    static int32_t probe(void* p, corral_sink* out) noexcept {
        return guarded(out, [&] { return boost::json::serialize(to_json(static_cast<Impl*>(p)->probe())); });
    }
    static const corral_probe_vtable* vtable() noexcept {
        static const corral_probe_vtable table{sizeof(corral_probe_vtable), &create_instance<Impl>, &destroy_instance<Impl>, &probe};
        return &table;
    }
};

}  // namespace corral::sdk::detail

#define CORRAL_SDK_DEFINE_PLUGIN_(Kind, Vtable, Name, Version, Description, Schema, Capabilities) \
    extern "C" const corral_plugin_descriptor* corral_plugin_describe_v1(void) {                  \
        static const corral_plugin_descriptor descriptor{                                         \
            CORRAL_PLUGIN_MAGIC,                                                                  \
            sizeof(corral_plugin_descriptor),                                                     \
            CORRAL_ABI_MAJOR,                                                                     \
            CORRAL_ABI_MINOR,                                                                     \
            CORRAL_SDK_VERSION,                                                                   \
            CORRAL_SDK_BUILD_FINGERPRINT,                                                         \
            Name,                                                                                 \
            Version,                                                                              \
            Kind,                                                                                 \
            Capabilities,                                                                         \
            Description,                                                                          \
            Schema,                                                                               \
            Vtable,                                                                               \
        };                                                                                        \
        return &descriptor;                                                                       \
    }                                                                                             \
    CORRAL_EXPORT_PLUGIN_ENTRY(corral_plugin_describe_v1)

// Declares the shared object's runner plugin. Class: a corral::sdk::ProcessRunner with the constructor
// described in runner.hpp. Name: unique, [a-z0-9_]+. Schema: JSON Schema text of the runner options
// ("" for none), used by `corral config check` to validate the options before the plugin runs.
// Capabilities: CORRAL_CAP_* bits or 0.
#define CORRAL_RUNNER_PLUGIN(Class, Name, Version, Description, Schema, Capabilities)                                                    \
    static_assert(std::is_base_of_v<::corral::sdk::ProcessRunner, Class>, #Class " must derive from ProcessRunner");                     \
    CORRAL_SDK_DEFINE_PLUGIN_(CORRAL_KIND_RUNNER, ::corral::sdk::detail::RunnerTrampolines<Class>::vtable(), Name, Version, Description, \
                              Schema, Capabilities)

// Declares the shared object's system-probe plugin. Class: a corral::sdk::SystemProbe.
#define CORRAL_PROBE_PLUGIN(Class, Name, Version, Description, Schema)                                                                 \
    static_assert(std::is_base_of_v<::corral::sdk::SystemProbe, Class>, #Class " must derive from SystemProbe");                       \
    CORRAL_SDK_DEFINE_PLUGIN_(CORRAL_KIND_PROBE, ::corral::sdk::detail::ProbeTrampolines<Class>::vtable(), Name, Version, Description, \
                              Schema, 0)
