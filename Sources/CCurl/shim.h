#ifndef CONVEYOR_CCURL_SHIM_H
#define CONVEYOR_CCURL_SHIM_H
#include <curl/curl.h>

/* Non-variadic wrappers for libcurl's variadic calls, which Swift cannot import. */

static inline CURLcode conveyor_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode conveyor_curl_easy_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode conveyor_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

typedef size_t (*conveyor_curl_write_callback)(char *data, size_t size, size_t count, void *user);

static inline CURLcode conveyor_curl_easy_setopt_write_callback(CURL *handle, CURLoption option, conveyor_curl_write_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode conveyor_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode conveyor_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

/* Never send this transfer through a proxy, whatever `http_proxy`, `all_proxy` or `no_proxy` say: an empty
   CURLOPT_PROXY disables proxies, and CURLOPT_NOPROXY "*" excludes every host (for the credential endpoints, which the
   AWS SDKs never proxy, and for requests the AWS proxy rules send direct). libcurl copies the strings. */
static inline CURLcode conveyor_curl_easy_bypass_proxy(CURL *handle) {
    CURLcode result = curl_easy_setopt(handle, CURLOPT_PROXY, "");
    if (result != CURLE_OK) return result;
    return curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");
}

/* Send this transfer through the proxy at `url` (CURLOPT_PROXY), and only it: an empty CURLOPT_NOPROXY keeps libcurl
   from applying `no_proxy` from the environment (the caller has applied the AWS rules already). libcurl copies the
   strings. */
static inline CURLcode conveyor_curl_easy_use_proxy(CURL *handle, const char *url) {
    CURLcode result = curl_easy_setopt(handle, CURLOPT_PROXY, url);
    if (result != CURLE_OK) return result;
    return curl_easy_setopt(handle, CURLOPT_NOPROXY, "");
}

static inline CURLMcode conveyor_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}
#endif
