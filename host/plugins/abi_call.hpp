// Calling across the plugin ABI: a host-owned output sink, and the translation of a failure status
// (or an exception that escaped a non-SDK plugin) into sdk::Error.
#pragma once

#include <corral/sdk/plugin_abi.h>
#include <corral/sdk/error.hpp>

#include <string>
#include <string_view>

namespace corral::plugins {

class OutputSink {
public:
    OutputSink() = default;
    OutputSink(const OutputSink&) = delete;
    OutputSink& operator=(const OutputSink&) = delete;

    corral_sink* get() noexcept { return &sink_; }
    std::string& text() noexcept { return text_; }

private:
    static void append(void* ctx, const char* data, size_t size) noexcept {
        try {
            if (data && size) static_cast<std::string*>(ctx)->append(data, size);
        } catch (...) {
            // Out of memory: the output is lost; the status still reaches the host.
        }
    }

    std::string text_;
    corral_sink sink_{&text_, &OutputSink::append};
};

// Runs `call(corral_sink*) -> int32_t` and returns the sink's text on CORRAL_OK; otherwise throws
// sdk::Error(code, "plugin <name>: <op>: <message>").
template <class Call>
std::string call_plugin(std::string_view plugin, std::string_view op, Call&& call) {
    OutputSink out;
    int32_t status = CORRAL_INTERNAL;
    try {
        status = call(out.get());
    } catch (...) {
        throw sdk::Error(sdk::ProcessError::Internal,
                         "plugin " + std::string(plugin) + ": " + std::string(op) + ": an exception crossed the C ABI");
    }
    if (status != CORRAL_OK) {
        auto message = out.text().empty() ? std::string("failed without a message") : out.text();
        throw sdk::Error(sdk::process_error_from_status(status), "plugin " + std::string(plugin) + ": " + std::string(op) + ": " + message);
    }
    return std::move(out.text());
}

}  // namespace corral::plugins
