// The web console's routes: GET/HEAD /ui/... answers with the compiled-in files, and a browser's
// GET / is sent there. The console is plain HTML, CSS and JavaScript modules that call corral's
// own API (/corral/..., /v1/...) with the keys the person enters; these routes need no key (the
// files hold no data).
#pragma once

#include "proxy/exchange.hpp"

#include <boost/asio/awaitable.hpp>

namespace corral::console {

// GET/HEAD /ui, /ui/ and /ui/FILE.
boost::asio::awaitable<void> serve_console(proxy::Exchange& ex);

// 302 to /ui/.
boost::asio::awaitable<void> redirect_to_console(proxy::Exchange& ex);

// A browser asking for a page: a GET or HEAD whose Accept lists text/html (API clients and curl
// do not send it, so they keep reaching the default model's server at /).
bool wants_html(const proxy::Request& request);

}  // namespace corral::console
