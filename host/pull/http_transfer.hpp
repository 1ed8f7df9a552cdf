// One HTTP(S) request through libcurl, for `corral pull`: a HEAD that reads a file's published
// facts, or a GET whose body goes to a sink as it arrives. Every wait is bounded (connect timeout,
// a stall limit), sockets are close-on-exec, only http and https are followed, and a bearer token
// is sent to the first host only (libcurl drops it on a redirect elsewhere, e.g. to a CDN).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <stop_token>
#include <string>

namespace corral::pull {

using Headers = std::map<std::string, std::string>;  // lower-case names, the last response's

struct TransferOptions {
    std::string url;
    std::string bearer_token;  // "" for none
    std::string ca_file;       // "" for the system's certificates (or CURL_CA_BUNDLE's)
    std::chrono::seconds connect_timeout{30};
    std::chrono::seconds stall_timeout{60};  // fail when under 1 KiB/s for this long
    uint64_t resume_from = 0;                // GET: ask for the bytes from here on (Range)
    std::string if_range;                    // GET with resume_from: the validator the first bytes came with
    std::stop_token stop;                    // ends the request within a second (Failure::Stopped)
};

// Where a GET's response goes. Each returns false to stop the transfer (after setting a reason).
class BodySink {
public:
    virtual ~BodySink() = default;
    // The final response's status and headers, before any of its body.
    virtual bool begin(long status, const Headers& headers) = 0;
    virtual bool write(const char* data, std::size_t size) = 0;
    // Called as bytes arrive and at least once a second: false stops the transfer.
    virtual bool tick() = 0;
};

struct TransferResult {
    enum class Failure { None, Http, Tls, Network, Timeout, Stopped, Request };
    Failure failure = Failure::None;
    long status = 0;      // the final response's
    std::string message;  // libcurl's words for the failure ("" when none)
    Headers headers;
};

// A HEAD that does not follow redirects (a Hugging Face resolve URL answers with the file's digest
// and a redirect to where the bytes are).
TransferResult http_head(const TransferOptions& options);
// A GET that follows up to 10 redirects and fails on a status of 400 or more (no body is written).
// What the sink throws is rethrown once libcurl has returned.
TransferResult http_get(const TransferOptions& options, BodySink& sink);

}  // namespace corral::pull
