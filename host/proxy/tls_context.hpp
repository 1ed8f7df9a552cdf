// The listener's TLS settings: TLS 1.2 and 1.3 only, the certificate chain and key from PEM files,
// ALPN "http/1.1" (corral speaks HTTP/1.1; clients that offer h2 fall back to it).
#pragma once

#include "config/config.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>

namespace corral::proxy {

// Throws std::runtime_error naming the file (and the config key) and OpenSSL's reason when the
// certificate or key cannot be read, or do not belong together.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const config::TlsConfig& tls);

}  // namespace corral::proxy
