// Captures the sdk::Error a call throws, so a test states the expected code and message in one line.
#pragma once

#include <corral/sdk/error.hpp>

#include <gtest/gtest.h>

namespace corral::test {

// The sdk::Error `f` throws; records a test failure (and returns an Internal error) when it throws none.
template <class F>
sdk::Error expect_sdk_error(F&& f) {
    try {
        f();
    } catch (const sdk::Error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an sdk::Error, none was thrown";
    return sdk::Error(sdk::ProcessError::Internal, "(no error was thrown)");
}

}  // namespace corral::test
