// What a llama-server binary supports, learnt once per binary from its --help text: builds differ
// (Debian's 0.7.0 fits layers itself with --fit; older ones take only a number for -ngl).
#pragma once

#include <string_view>

namespace corral::llama {

struct ServerFeatures {
    bool fit = false;             // --fit on|off, --fit-target MiB,..., -ngl auto
    bool log_verbosity = false;   // --log-verbosity N (the per-device buffer sizes are printed at 4)
    bool slot_save_path = false;  // --slot-save-path DIR (POST /slots/N?action=save|restore)
    bool unix_socket = false;     // --host PATH.sock listens on a Unix socket
};

// Pure: the features a --help text announces.
ServerFeatures parse_help(std::string_view help);

}  // namespace corral::llama
