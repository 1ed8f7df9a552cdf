#include "pull/http_transfer.hpp"

#include "pull/libcurl_library.hpp"

#include <corral/sdk/version.hpp>

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>

namespace corral::pull {
namespace {

struct EasyDeleter {
    void operator()(CURL* c) const { libcurl().easy_cleanup(c); }
};
struct ListDeleter {
    void operator()(curl_slist* l) const { libcurl().slist_free_all(l); }
};

struct Context {
    std::stop_token stop;
    Headers headers;
    long status = 0;
    BodySink* sink = nullptr;
    bool begun = false;
    bool sink_refused = false;
    std::exception_ptr thrown;  // by the sink: carried across libcurl's C frames, rethrown after
};

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

// Each response (a redirect's too) starts with its status line: keep only the last one's headers.
size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* ctx = static_cast<Context*>(user);
    const std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
        ctx->headers.clear();
        const auto sp = line.find(' ');
        ctx->status = sp == std::string_view::npos ? 0 : std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
        return size * count;
    }
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        ctx->headers[name] = trim(line.substr(colon + 1));
    }
    return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* ctx = static_cast<Context*>(user);
    try {
        if (!ctx->begun) {
            ctx->begun = true;
            if (!ctx->sink->begin(ctx->status, ctx->headers)) {
                ctx->sink_refused = true;
                return 0;
            }
        }
        if (!ctx->sink->write(data, size * count)) {
            ctx->sink_refused = true;
            return 0;
        }
    } catch (...) {
        ctx->thrown = std::current_exception();
        return 0;
    }
    return size * count;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* ctx = static_cast<Context*>(user);
    if (ctx->stop.stop_requested()) return 1;
    try {
        if (!ctx->sink || ctx->sink->tick()) return 0;
    } catch (...) {
        ctx->thrown = std::current_exception();
        return 1;
    }
    ctx->sink_refused = true;
    return 1;
}

curl_socket_t open_cloexec_socket(void*, curlsocktype, curl_sockaddr* address) {
    return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

TransferResult::Failure classify(CURLcode code) {
    using F = TransferResult::Failure;
    switch (code) {
        case CURLE_OK:
            return F::None;
        case CURLE_HTTP_RETURNED_ERROR:
            return F::Http;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_USE_SSL_FAILED:
            return F::Tls;
        case CURLE_OPERATION_TIMEDOUT:
            return F::Timeout;
        case CURLE_WRITE_ERROR:
        case CURLE_ABORTED_BY_CALLBACK:
            return F::Stopped;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_TOO_MANY_REDIRECTS:
        case CURLE_LOGIN_DENIED:
            return F::Request;
        default:
            return F::Network;  // could not resolve or connect, connection reset, a body cut short
    }
}

template <typename T>
void set(CURL* c, CURLoption option, T value) {
    if (libcurl().easy_setopt(c, option, value) != CURLE_OK) throw std::runtime_error("libcurl refused an option");
}

TransferResult perform(const TransferOptions& o, bool head, BodySink* sink) {
    const LibCurl& curl = libcurl();
    std::unique_ptr<CURL, EasyDeleter> easy(curl.easy_init());
    if (!easy) throw std::runtime_error("libcurl could not make a handle");
    CURL* c = easy.get();
    Context ctx;
    ctx.sink = sink;
    ctx.stop = o.stop;
    char error[CURL_ERROR_SIZE] = {};
    static const std::string agent = std::string("corral/") + CORRAL_SDK_VERSION;
    set(c, CURLOPT_URL, o.url.c_str());
    set(c, CURLOPT_USERAGENT, agent.c_str());
    set(c, CURLOPT_ERRORBUFFER, error);
    set(c, CURLOPT_NOSIGNAL, 1L);
    set(c, CURLOPT_PROTOCOLS_STR, "http,https");
    set(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    set(c, CURLOPT_OPENSOCKETFUNCTION, open_cloexec_socket);
    set(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o.connect_timeout.count()));
    set(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    set(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.stall_timeout.count()));
    set(c, CURLOPT_FAILONERROR, 1L);
    set(c, CURLOPT_HEADERFUNCTION, on_header);
    set(c, CURLOPT_HEADERDATA, &ctx);
    std::string ca = o.ca_file;
    if (ca.empty()) {
        if (const char* env = std::getenv("CURL_CA_BUNDLE"); env && *env) ca = env;
    }
    if (!ca.empty()) set(c, CURLOPT_CAINFO, ca.c_str());
    if (!o.bearer_token.empty()) {
        set(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BEARER));
        set(c, CURLOPT_XOAUTH2_BEARER, o.bearer_token.c_str());
    }
    set(c, CURLOPT_NOPROGRESS, 0L);
    set(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    set(c, CURLOPT_XFERINFODATA, &ctx);
    std::unique_ptr<curl_slist, ListDeleter> extra;
    if (head) {
        set(c, CURLOPT_NOBODY, 1L);
    } else {
        set(c, CURLOPT_FOLLOWLOCATION, 1L);
        set(c, CURLOPT_MAXREDIRS, 10L);
        set(c, CURLOPT_WRITEFUNCTION, on_body);
        set(c, CURLOPT_WRITEDATA, &ctx);
        if (o.resume_from > 0) {
            set(c, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(o.resume_from));
            if (!o.if_range.empty()) {
                const std::string header = "If-Range: " + o.if_range;
                extra.reset(curl.slist_append(nullptr, header.c_str()));
                set(c, CURLOPT_HTTPHEADER, extra.get());
            }
        }
    }
    const CURLcode code = curl.easy_perform(c);
    if (ctx.thrown) std::rethrow_exception(ctx.thrown);
    TransferResult r;
    r.failure = classify(code);
    // A body that is empty never reaches on_body: the sink still hears the response.
    if (code == CURLE_OK && sink && !ctx.begun) {
        ctx.begun = true;
        if (!sink->begin(ctx.status, ctx.headers)) r.failure = TransferResult::Failure::Stopped;
    }
    curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.status == 0) r.status = ctx.status;
    r.headers = std::move(ctx.headers);
    if (r.failure == TransferResult::Failure::Stopped && !ctx.sink_refused && !o.stop.stop_requested()) {
        r.failure = TransferResult::Failure::Network;
    }
    if (code != CURLE_OK) r.message = error[0] ? error : curl.easy_strerror(code);
    return r;
}

}  // namespace

TransferResult http_head(const TransferOptions& options) {
    return perform(options, true, nullptr);
}
TransferResult http_get(const TransferOptions& options, BodySink& sink) {
    return perform(options, false, &sink);
}

}  // namespace corral::pull
