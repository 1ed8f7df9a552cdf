// Tells the service manager what corral is doing (systemd's notify protocol, Type=notify): READY=1
// once it accepts requests, RELOADING=1 then READY=1 around a configuration reload, STOPPING=1 when
// the drain begins, each with a STATUS= line `systemctl status` shows. The messages are datagrams
// to the unix socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace); without
// it, nothing is sent. Sending never blocks and never fails the caller: a manager that is gone is
// logged once.
#pragma once

#include <string>
#include <string_view>

namespace corral::serve {

class ServiceManager {
public:
    // Reads $NOTIFY_SOCKET and removes it from the environment, so the model servers corral starts do
    // not inherit it (a child that wrote there would speak for corral).
    static ServiceManager from_environment();
    // Messages to `socket` ("" sends nothing).
    explicit ServiceManager(std::string socket) : socket_(std::move(socket)) {}

    bool enabled() const noexcept { return !socket_.empty(); }

    void ready(std::string_view status) { send("READY=1\nSTATUS=" + one_line(status)); }
    // A reload begins (MONOTONIC_USEC: when, as systemd 253's Type=notify-reload also wants it).
    void reloading(std::string_view status);
    void stopping(std::string_view status) { send("STOPPING=1\nSTATUS=" + one_line(status)); }
    void status(std::string_view status) { send("STATUS=" + one_line(status)); }

    // Sends one message; false when it could not be sent (or there is no socket).
    bool send(const std::string& message);

private:
    static std::string one_line(std::string_view text);

    std::string socket_;
    bool warned_ = false;
};

}  // namespace corral::serve
