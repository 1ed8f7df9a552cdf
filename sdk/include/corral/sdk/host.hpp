// corral SDK: what a plugin instance can ask of the host: logging and server events.
#pragma once

#include <corral/sdk/plugin_abi.h>
#include <corral/sdk/types.hpp>

#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace corral::sdk {

enum class LogLevel {
    Trace = CORRAL_LOG_TRACE,
    Debug = CORRAL_LOG_DEBUG,
    Info = CORRAL_LOG_INFO,
    Warn = CORRAL_LOG_WARN,
    Error = CORRAL_LOG_ERROR
};

// A cheap, copyable view of the host API handed to create(). Lines logged here appear under the
// host's logger "plugin.<name>"; events reach the host's supervisor. Safe from any thread.
// A default-constructed Host (no API) drops everything, which keeps plugin classes testable alone.
class Host {
public:
    Host() = default;
    explicit Host(const corral_host_api* api) noexcept : api_(api) {}

    void log(LogLevel level, std::string_view message) const noexcept {
        if (has(offsetof(corral_host_api, log), sizeof(api_->log)) && api_->log) {
            api_->log(api_->host_ctx, static_cast<int32_t>(level), corral_str{message.data(), message.size()});
        }
    }

    // Concatenates its arguments with operator<<: host.info("started ", name, " on port ", port).
    template <class... Args>
    void trace(const Args&... args) const {
        log(LogLevel::Trace, concat(args...));
    }
    template <class... Args>
    void debug(const Args&... args) const {
        log(LogLevel::Debug, concat(args...));
    }
    template <class... Args>
    void info(const Args&... args) const {
        log(LogLevel::Info, concat(args...));
    }
    template <class... Args>
    void warn(const Args&... args) const {
        log(LogLevel::Warn, concat(args...));
    }
    template <class... Args>
    void error(const Args&... args) const {
        log(LogLevel::Error, concat(args...));
    }

    // The server is ready to serve (start() also returns the handle; this tells listeners at once).
    void emit_ready(const ProcessHandle& handle) const {
        emit(CORRAL_EVENT_READY, handle.instance_id, boost::json::serialize(to_json(handle)));
    }

    // The server is gone. exit_code and signal are empty when unknown (e.g. a remote server).
    void emit_exited(std::string_view instance_id, std::optional<int> exit_code, std::optional<int> signal,
                     std::string_view message) const {
        boost::json::object o;
        o["exit_code"] = exit_code ? boost::json::value(*exit_code) : boost::json::value(nullptr);
        o["signal"] = signal ? boost::json::value(*signal) : boost::json::value(nullptr);
        o["message"] = message;
        emit(CORRAL_EVENT_EXITED, instance_id, boost::json::serialize(o));
    }

    // One line of the server's output, without its line terminator. stream: "stdout" or "stderr".
    // A busy server logs thousands of lines a second: a host of ABI 1.3 or later takes the line as
    // it is (corral_host_api.log_line), an older one as a CORRAL_EVENT_LOG_LINE written here.
    void emit_log_line(std::string_view instance_id, std::string_view stream, std::string_view line) const {
        if (has(offsetof(corral_host_api, log_line), sizeof(api_->log_line)) && api_->log_line) {
            api_->log_line(api_->host_ctx, {instance_id.data(), instance_id.size()}, {stream.data(), stream.size()},
                           {line.data(), line.size()});
            return;
        }
        std::string payload = "{\"stream\":";
        payload += boost::json::serialize(boost::json::string_view(stream.data(), stream.size()));
        payload += ",\"line\":";
        payload += boost::json::serialize(boost::json::string_view(line.data(), line.size()));
        payload += '}';
        emit(CORRAL_EVENT_LOG_LINE, instance_id, payload);
    }

    // Where a start stands while start() still waits, in the runner's words ("job 12 waits in the
    // queue (PENDING: Resources)"): the host shows it as the instance's message and in its log.
    // A log line of stream "status", so hosts older than this see it in the log only.
    void emit_status(std::string_view instance_id, std::string_view text) const { emit_log_line(instance_id, "status", text); }

private:
    bool has(std::size_t offset, std::size_t size) const noexcept { return api_ && api_->struct_size >= offset + size; }

    void emit(int32_t kind, std::string_view instance_id, const std::string& payload) const noexcept {
        if (!has(offsetof(corral_host_api, emit), sizeof(api_->emit)) || !api_->emit) return;
        corral_event ev{sizeof(corral_event), kind, {instance_id.data(), instance_id.size()}, {payload.data(), payload.size()}};
        api_->emit(api_->host_ctx, &ev);
    }

    template <class... Args>
    static std::string concat(const Args&... args) {
        std::ostringstream os;
        (os << ... << args);
        return os.str();
    }

    const corral_host_api* api_ = nullptr;
};

}  // namespace corral::sdk
