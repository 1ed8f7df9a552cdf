// A test's hostile squatter: a process of another user (uid 65534; the tests that use it need root)
// on a loopback port, lying as one that wants a model server's traffic would.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace corral::test {

// /health 200, 401 to any key ending in "-not" (the ready check's other key), 200 to any other. A
// child process (only another process can have another uid), killed when destroyed.
class ForeignLiar {
public:
    ForeignLiar() {
        int ports[2];
        if (::pipe2(ports, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        pid_ = ::fork();
        if (pid_ == 0) serve(ports[1]);  // never returns
        ::close(ports[1]);
        uint16_t bound = 0;
        const bool got = ::read(ports[0], &bound, sizeof bound) == static_cast<ssize_t>(sizeof bound);
        ::close(ports[0]);
        if (!got) throw std::runtime_error("the other user's server did not start");
        port = bound;
    }
    ~ForeignLiar() {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }

    uint16_t port = 0;  // on 127.0.0.1

private:
    // The child: async-signal-safe calls only (the parent has threads), no allocation.
    [[noreturn]] static void serve(int report) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
        const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in at{};
        at.sin_family = AF_INET;
        at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof at;
        if (::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(listener, 16) != 0 ||
            ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &length) != 0)
            ::_exit(1);
        const uint16_t port = ntohs(at.sin_port);
        if (::write(report, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) ::_exit(1);
        for (;;) {
            const int client = ::accept(listener, nullptr, nullptr);
            if (client < 0) continue;
            char request[4096];
            std::size_t size = 0;
            while (size < sizeof request - 1) {
                const ssize_t n = ::read(client, request + size, sizeof request - 1 - size);
                if (n <= 0) break;
                size += static_cast<std::size_t>(n);
                request[size] = '\0';
                if (std::strstr(request, "\r\n\r\n")) break;
            }
            request[size] = '\0';
            const bool refuse = std::strstr(request, "GET /health ") == nullptr && std::strstr(request, "-not\r\n") != nullptr;
            const char* reply = refuse ? "HTTP/1.1 401 X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                                       : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
            [[maybe_unused]] auto written = ::write(client, reply, std::strlen(reply));
            ::close(client);
        }
    }

    pid_t pid_ = -1;
};

}  // namespace corral::test
