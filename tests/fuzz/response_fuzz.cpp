// libFuzzer target, differential: a model server's response read by the relay's parser
// (ServerResponseParser, whose fast path reads the common shape itself) and by Beast's parser
// alone. Whatever the fast path takes must come out exactly as Beast reads it (status, the
// client's head, framing, keep-alive, body, errors): a framing difference would let one response's
// bytes be read as the next one's, on a connection other clients' requests reuse.
//
// The input is the response; its last byte also picks how it arrives (1 to 249 bytes at a time) and
// whether corral sets headers of its own on it.
#include "response_reading.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace corral::proxy;
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const uint8_t control = data[size - 1];
    static const HeaderList kNone;
    static const HeaderList kCors{{"Access-Control-Allow-Origin", "https://app.example"}, {"Vary", "Origin"}};
    const HeaderList& sets = (control & 0x20) ? kCors : kNone;

    ServerResponseParser parser(sets, false);
    const auto got = test::read(parser, text, 7, 1 + (control & 0x1f) * 8);
    if (parser.general()) return 0;  // Beast read it: nothing to compare
    const auto expected = test::beast_read(sets, text);
    if (const auto different = test::difference(parser, got, expected)) {
        std::fprintf(stderr, "the fast path and Beast differ: %s\n", different->c_str());
        std::abort();
    }
    return 0;
}
