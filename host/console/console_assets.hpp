// The web console's files (host/console/assets), compiled into corral by embed_assets.cmake: no
// files to install or find at run time, and nothing fetched from elsewhere by the browser.
#pragma once

#include <span>
#include <string_view>

namespace corral::console {

struct ConsoleAsset {
    std::string_view name;       // path under assets/: "index.html", "js/models.js"
    std::string_view body;       // the file
    std::string_view gzip_body;  // the file gzip-compressed
    std::string_view etag;       // a strong ETag ("\"hex\"") from its SHA-256
};

// Every file, sorted by name.
std::span<const ConsoleAsset> console_assets();

// The file a path under /ui/ names ("" and "/" name index.html); nullptr when none.
const ConsoleAsset* find_console_asset(std::string_view path_under_ui);

// The Content-Type for a file name, by its extension.
std::string_view content_type_for(std::string_view name);

}  // namespace corral::console
