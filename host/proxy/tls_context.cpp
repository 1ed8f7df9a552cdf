#include "proxy/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace corral::proxy {
namespace {

namespace ssl = boost::asio::ssl;

// Chooses "http/1.1" when the client offers it; other protocols (h2) are declined, so the client
// falls back to HTTP/1.1 instead of failing.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
    static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

std::string reason(const boost::system::system_error& e) {
    std::string text = e.code().message();
    return text.empty() ? e.what() : text;
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const config::TlsConfig& tls) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use | SSL_OP_NO_RENEGOTIATION);
    try {
        context->use_certificate_chain_file(tls.cert.string());
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("tls.cert: cannot use " + tls.cert.string() + " as a PEM certificate chain: " + reason(e));
    }
    try {
        context->use_private_key_file(tls.key.string(), ssl::context::pem);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("tls.key: cannot use " + tls.key.string() + " as the PEM private key of " + tls.cert.string() + ": " +
                                 reason(e));
    }
    if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
        ERR_clear_error();
        throw std::runtime_error("tls.key: " + tls.key.string() + " is not the private key of the certificate in " + tls.cert.string());
    }
    SSL_CTX_set_alpn_select_cb(context->native_handle(), select_alpn, nullptr);
    return context;
}

}  // namespace corral::proxy
