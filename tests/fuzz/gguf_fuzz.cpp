// libFuzzer target: the GGUF reader and the model description on arbitrary bytes. Any input must
// parse or throw FormatError (or, for a shape no cache can hold, invalid_argument); ASan/UBSan and libFuzzer catch everything else.
#include "fit/memory_estimate.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/model_info.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto file = corral::gguf::parse({data, size}, {.max_array_items = 64, .max_kept_items = 4096});
        auto info = corral::gguf::describe(file);
        corral::fit::EstimateOptions options;
        options.ctx_size = 512;
        (void)corral::fit::estimate_memory(info, options);
    } catch (const corral::gguf::FormatError&) {
    } catch (const std::invalid_argument&) {  // a shape the KV cache types cannot hold
    }
    return 0;
}
