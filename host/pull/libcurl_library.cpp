#include "pull/libcurl_library.hpp"

#include <dlfcn.h>

#include <stdexcept>
#include <string>

#ifndef CORRAL_LIBCURL_SONAME
#error "CORRAL_LIBCURL_SONAME (the soname of the libcurl built against) comes from host/CMakeLists.txt"
#endif

namespace corral::pull {
namespace {

template <class Fn>
void resolve(void* handle, const char* name, Fn& fn) {
    fn = reinterpret_cast<Fn>(::dlsym(handle, name));
    if (!fn) throw std::runtime_error(std::string(CORRAL_LIBCURL_SONAME " lacks ") + name);
}

LibCurl load() {
    // Never closed: see the header. RTLD_LOCAL keeps its symbols (and its TLS library's) out of the
    // plugins' way.
    void* handle = ::dlopen(CORRAL_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* why = ::dlerror();
        throw std::runtime_error(std::string("downloads need libcurl, and " CORRAL_LIBCURL_SONAME " could not be loaded") +
                                 (why ? std::string(": ") + why : std::string()));
    }
    LibCurl c;
    resolve(handle, "curl_global_init", c.global_init);
    resolve(handle, "curl_easy_init", c.easy_init);
    resolve(handle, "curl_easy_setopt", c.easy_setopt);
    resolve(handle, "curl_easy_perform", c.easy_perform);
    resolve(handle, "curl_easy_getinfo", c.easy_getinfo);
    resolve(handle, "curl_easy_strerror", c.easy_strerror);
    resolve(handle, "curl_easy_cleanup", c.easy_cleanup);
    resolve(handle, "curl_slist_append", c.slist_append);
    resolve(handle, "curl_slist_free_all", c.slist_free_all);
    if (c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("libcurl could not start");
    return c;
}

}  // namespace

const LibCurl& libcurl() {
    static const LibCurl loaded = load();  // thread-safe; an exception leaves it for the next call
    return loaded;
}

}  // namespace corral::pull
