// libcurl, loaded with dlopen when the first transfer starts rather than linked: its dependencies
// (GnuTLS, Kerberos, LDAP, libssh2, ...) would otherwise be mapped into every corral process, and
// most never pull a file (5 MiB of idle RSS and 13 ms of start-up on the footprint benchmark).
#pragma once

#include <curl/curl.h>

namespace corral::pull {

// The functions http_transfer uses, resolved once; the library stays loaded for the process's life
// (libcurl's global state and its TLS library's exit handlers must outlive every transfer).
struct LibCurl {
    decltype(&curl_global_init) global_init = nullptr;
    decltype(&curl_easy_init) easy_init = nullptr;
    decltype(&curl_easy_setopt) easy_setopt = nullptr;
    decltype(&curl_easy_perform) easy_perform = nullptr;
    decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
    decltype(&curl_easy_strerror) easy_strerror = nullptr;
    decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
    decltype(&curl_slist_append) slist_append = nullptr;
    decltype(&curl_slist_free_all) slist_free_all = nullptr;
};

// The loaded library with curl_global_init done, or std::runtime_error naming the library and
// dlopen's reason (a later call tries again).
const LibCurl& libcurl();

}  // namespace corral::pull
