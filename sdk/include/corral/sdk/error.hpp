// corral SDK: the error type plugins throw and the host reports.
#pragma once

#include <corral/sdk/plugin_abi.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace corral::sdk {

// What went wrong, one to one with corral_status (minus CORRAL_OK).
enum class ProcessError {
    StartFailed = CORRAL_START_FAILED,
    StopFailed = CORRAL_STOP_FAILED,
    NotRunning = CORRAL_NOT_RUNNING,
    HealthCheckFailed = CORRAL_HEALTH_CHECK_FAILED,
    Configuration = CORRAL_CONFIGURATION,
    ResourceExhausted = CORRAL_RESOURCE_EXHAUSTED,
    Internal = CORRAL_INTERNAL,
    NotSupported = CORRAL_NOT_SUPPORTED,
};

// Stable lower-case name, used in logs, JSON output and error objects.
constexpr std::string_view to_string(ProcessError e) noexcept {
    switch (e) {
        case ProcessError::StartFailed:
            return "start_failed";
        case ProcessError::StopFailed:
            return "stop_failed";
        case ProcessError::NotRunning:
            return "not_running";
        case ProcessError::HealthCheckFailed:
            return "health_check_failed";
        case ProcessError::Configuration:
            return "configuration";
        case ProcessError::ResourceExhausted:
            return "resource_exhausted";
        case ProcessError::Internal:
            return "internal";
        case ProcessError::NotSupported:
            return "not_supported";
    }
    return "internal";
}

// Maps a status read from across the ABI; unknown values become Internal.
constexpr ProcessError process_error_from_status(int32_t status) noexcept {
    if (status >= CORRAL_START_FAILED && status <= CORRAL_NOT_SUPPORTED) {
        return static_cast<ProcessError>(status);
    }
    return ProcessError::Internal;
}

// Thrown by SDK code and by plugins; the SDK's trampolines turn it into a status + message, and the
// host turns that back into an Error.
class Error : public std::runtime_error {
public:
    Error(ProcessError code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ProcessError code() const noexcept { return code_; }

private:
    ProcessError code_;
};

// A Configuration error about one place in a JSON document: path like "models.qwen.ctx_size",
// detail like "expected integer, got string". what() is "<path>: <detail>".
class JsonPathError : public Error {
public:
    JsonPathError(std::string path, std::string detail)
        : Error(ProcessError::Configuration, path + ": " + detail), path_(std::move(path)), detail_(std::move(detail)) {}
    const std::string& path() const noexcept { return path_; }
    const std::string& detail() const noexcept { return detail_; }

private:
    std::string path_;
    std::string detail_;
};

}  // namespace corral::sdk
