#include "pull/pull.hpp"

#include "config/units.hpp"
#include "crypto/sha256.hpp"
#include "pull/http_transfer.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>

namespace corral::pull {
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

bool is_transient(std::string_view code, long http_status) {
    if (code == "network" || code == "timeout") return true;
    return code == "http_error" && (http_status == 429 || http_status >= 500);
}

double backoff_seconds(int attempt) {
    double s = 1;
    for (int i = 2; i < attempt && s < 30; ++i) s *= 2;
    return std::min(s, 30.0);
}

std::string space_shortfall(uint64_t need, uint64_t available, const fs::path& dir) {
    constexpr uint64_t kMargin = 16u << 20;  // a file system filled to the last block fails everyone else
    if (need + kMargin <= available) return "";
    return "the file needs " + config::format_size(need) + " more but " + dir.string() + " has " + config::format_size(available) + " free";
}

fs::path quarantine_path(const fs::path& dir, const std::string& file_name, std::chrono::system_clock::time_point now) {
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    return dir / "quarantine" / (std::string(stamp) + "-" + file_name);
}

namespace {

std::optional<uint64_t> parse_number(std::string_view text) {
    if (text.empty() || text.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

}  // namespace

std::optional<uint64_t> content_range_start(std::string_view value) {
    if (!value.starts_with("bytes ")) return std::nullopt;
    value.remove_prefix(6);
    return parse_number(value.substr(0, value.find('-')));
}

std::optional<uint64_t> content_range_total(std::string_view value) {
    const auto slash = value.rfind('/');
    if (!value.starts_with("bytes ") || slash == std::string_view::npos) return std::nullopt;
    return parse_number(value.substr(slash + 1));
}

namespace {

// The .partial file and its digest so far: what a GET's body is written to.
class PartialFile : public BodySink {
public:
    PartialFile(const PullOptions& options, fs::path path, fs::path meta, PullEvent& progress)
        : options_(options), path_(std::move(path)), meta_(std::move(meta)), progress_(progress) {}
    ~PartialFile() override {
        if (fd_ >= 0) ::close(fd_);
    }

    // Opens the file, keeping the bytes of an earlier pull of the same URL (read once for the digest).
    void open() {
        std::error_code ec;
        if (fs::exists(path_, ec)) {
            const auto kept = read_meta();
            if (kept.url == options_.source.url) {
                bytes_ = fs::file_size(path_);
                validator_ = kept.validator;
                crypto::sha256_update_from_file(hasher_, path_, bytes_);
            }
        }
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot write " + path_.string());
        if (bytes_ == 0 && ::ftruncate(fd_, 0) != 0)
            throw std::system_error(errno, std::generic_category(), "cannot write " + path_.string());
    }

    void start_over() {
        if (::ftruncate(fd_, 0) != 0) throw std::system_error(errno, std::generic_category(), "cannot write " + path_.string());
        bytes_ = 0;
        validator_.clear();
        hasher_ = crypto::Sha256();
    }

    bool begin(long status, const Headers& headers) override {
        auto header = [&](const char* name) -> std::string_view {
            auto it = headers.find(name);
            return it == headers.end() ? std::string_view() : std::string_view(it->second);
        };
        const auto length = parse_number(header("content-length"));
        begun_ = true;
        if (status == 206) {
            const auto start = content_range_start(header("content-range"));
            if (start != bytes_) {
                fail("http_error", "the server answered with bytes from " + (start ? std::to_string(*start) : std::string("?")) +
                                       " when asked for those from " + std::to_string(bytes_));
                return false;
            }
            total_ = content_range_total(header("content-range"));
        } else {
            if (bytes_ > 0) start_over();  // the server sent the whole file: it changed, or ignores ranges
            total_ = length;
        }
        if (!total_ && length) total_ = bytes_ + *length;
        // A strong validator lets the next attempt resume only if the file is still the same.
        std::string etag(header("etag"));
        validator_ = !etag.empty() && !etag.starts_with("W/") ? etag : std::string(header("last-modified"));
        write_meta();
        progress_.total = total_;
        if (total_ && *total_ > bytes_) {
            struct statvfs vfs {};
            if (::statvfs(path_.parent_path().c_str(), &vfs) == 0) {
                const auto why = space_shortfall(*total_ - bytes_, static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize, path_.parent_path());
                if (!why.empty()) {
                    fail("no_space", why);
                    return false;
                }
            }
        }
        return true;
    }

    bool write(const char* data, std::size_t size) override {
        while (size > 0) {
            const auto n = ::write(fd_, data, size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const int err = n < 0 ? errno : ENOSPC;
                const bool full = err == ENOSPC || err == EFBIG || err == EDQUOT;
                fail(full ? "no_space" : "io", "cannot write " + path_.string() + ": " + std::strerror(err));
                return false;
            }
            hasher_.update(data, static_cast<std::size_t>(n));
            bytes_ += static_cast<uint64_t>(n);
            data += n;
            size -= static_cast<std::size_t>(n);
        }
        return tick();
    }

    bool tick() override {
        if (options_.stop.stop_requested()) {
            fail("cancelled", "the pull was stopped");
            return false;
        }
        if (!begun_) return true;  // nothing to say before the response starts
        const auto now = steady::now();
        rate_.sample(now, bytes_);
        if (now - last_report_ >= options_.progress_interval) report(now);
        return true;
    }

    void report(steady::time_point now) {
        last_report_ = now;
        progress_.kind = PullEvent::Kind::Progress;
        progress_.bytes = bytes_;
        progress_.total = total_;
        progress_.bytes_per_second = rate_.bytes_per_second();
        progress_.eta_seconds = eta_seconds(bytes_, total_, progress_.bytes_per_second);
        if (options_.on_event) options_.on_event(progress_);
    }

    void fail(std::string code, std::string message) {
        code_ = std::move(code);
        message_ = std::move(message);
    }
    void clear_failure() {
        code_.clear();
        message_.clear();
    }

    // Flushes and closes the file; the digest of all its bytes.
    crypto::Sha256Digest finish() {
        if (::fsync(fd_) != 0) throw std::system_error(errno, std::generic_category(), "cannot write " + path_.string());
        ::close(fd_);
        fd_ = -1;
        return hasher_.finish();
    }

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    uint64_t bytes() const { return bytes_; }
    std::optional<uint64_t> total() const { return total_; }
    const std::string& validator() const { return validator_; }
    const std::string& code() const { return code_; }
    const std::string& message() const { return message_; }

private:
    struct Meta {
        std::string url, validator;
    };
    Meta read_meta() const {
        std::ifstream in(meta_);
        std::stringstream text;
        text << in.rdbuf();
        boost::system::error_code ec;
        auto v = boost::json::parse(text.str(), ec);
        if (ec || !v.is_object()) return {};
        Meta m;
        if (auto* u = v.get_object().if_contains("url"); u && u->is_string()) m.url = u->get_string();
        if (auto* x = v.get_object().if_contains("validator"); x && x->is_string()) m.validator = x->get_string();
        return m;
    }
    void write_meta() const {
        std::ofstream out(meta_, std::ios::trunc);
        out << boost::json::serialize(boost::json::object{{"url", options_.source.url}, {"validator", validator_}}) << "\n";
    }

    const PullOptions& options_;
    fs::path path_, meta_;
    PullEvent& progress_;
    int fd_ = -1;
    uint64_t bytes_ = 0;
    std::optional<uint64_t> total_;
    std::string validator_;
    crypto::Sha256 hasher_;
    RateMeter rate_;
    steady::time_point last_report_{};
    bool begun_ = false;
    std::string code_, message_;
};

struct Failure {
    std::string code, message;
    long status = 0;
};

Failure describe_failure(const TransferResult& r, const PullOptions& o) {
    using F = TransferResult::Failure;
    const std::string& url = o.source.url;
    switch (r.failure) {
        case F::Http:
            if (r.status == 404 || r.status == 410)
                return {"not_found", "not found: HTTP " + std::to_string(r.status) + " from " + url, r.status};
            if (r.status == 401 || r.status == 403) {
                std::string hint = o.source.hugging_face ? (o.hf_token.empty() ? " (a gated or private repository: set HF_TOKEN)"
                                                                               : " (HF_TOKEN does not give access to this repository)")
                                                         : "";
                return {"unauthorized", "access refused: HTTP " + std::to_string(r.status) + " from " + url + hint, r.status};
            }
            return {"http_error", "HTTP " + std::to_string(r.status) + " from " + url, r.status};
        case F::Tls:
            return {"tls", "TLS failed for " + url + ": " + r.message + " (a server with a private certificate needs --cacert FILE)", 0};
        case F::Timeout:
            return {"timeout", "timed out: " + r.message + " (" + url + ")", 0};
        case F::Request:
            return {"http_error", r.message + " (" + url + ")", 0};
        case F::Stopped:
            if (o.stop.stop_requested()) return {"cancelled", "the pull was stopped", 0};
            return {"network", r.message + " (" + url + ")", 0};
        default:
            return {"network", r.message.empty() ? "the connection failed (" + url + ")" : r.message + " (" + url + ")", 0};
    }
}

TransferOptions transfer_options(const PullOptions& o) {
    TransferOptions t;
    t.url = o.source.url;
    if (o.source.hugging_face) t.bearer_token = o.hf_token;
    t.ca_file = o.ca_file;
    t.connect_timeout = o.connect_timeout;
    t.stall_timeout = o.stall_timeout;
    t.stop = o.stop;
    return t;
}

// Waits before a retry; false when the pull was stopped meanwhile.
bool wait_unless_stopped(const std::stop_token& stop, double seconds) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, std::chrono::duration<double>(seconds), [] { return false; });  // woken by the stop, or the time
    return !stop.stop_requested();
}

void sync_folder(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

class Pull {
public:
    explicit Pull(const PullOptions& o) : o_(o) {
        target_ = o.dir / o.file_name;
        partial_ = o.dir / (o.file_name + ".partial");
        meta_ = o.dir / (o.file_name + ".partial.json");
        base_.source = o.source.text;
        base_.path = target_.string();
        if (o.expected_sha256) base_.expected_sha256 = *o.expected_sha256;
    }

    PullEvent run() {
        std::error_code ec;
        fs::create_directories(o_.dir, ec);
        if (ec) return error("io", "cannot make " + o_.dir.string() + ": " + ec.message());
        if (base_.expected_sha256.empty() && o_.source.hugging_face) {
            if (auto failed = look_up_published_digest()) return *failed;
        }
        if (fs::exists(target_, ec)) return already_there();
        PullEvent progress = base_;
        PartialFile file(o_, partial_, meta_, progress);
        try {
            file.open();
        } catch (const std::system_error& e) {
            return error("io", e.what());
        }
        PullEvent start = base_;
        start.kind = PullEvent::Kind::Start;
        start.resumed_from = file.bytes();
        start.total = total_hint_;
        emit(start);
        bool restarted = false;
        for (int attempt = 1;; ++attempt) {
            auto t = transfer_options(o_);
            t.resume_from = file.bytes();
            t.if_range = file.bytes() ? file.validator() : "";
            file.clear_failure();
            auto result = http_get(t, file);
            if (result.failure == TransferResult::Failure::None) break;
            if (result.failure == TransferResult::Failure::Http && result.status == 416 && file.bytes() > 0) {
                // The range starts at or past the end: the partial file is whole already, or is not this file.
                const auto total = content_range_total(result.headers["content-range"]);
                if (total && *total == file.bytes()) break;
                if (restarted) return give_up(file, "http_error", "the server refuses every range of " + o_.source.url);
                restarted = true;
                file.start_over();
                continue;
            }
            Failure f = !file.code().empty() ? Failure{file.code(), file.message(), 0} : describe_failure(result, o_);
            switch (after_failure(f, attempt, file.bytes())) {
                case Next::Retry:
                    continue;
                case Next::Stopped:
                    return give_up(file, "cancelled", "the pull was stopped");
                case Next::GiveUp:
                    return give_up(file, f.code, f.message);
            }
        }
        file.report(steady::now());
        crypto::Sha256Digest digest{};
        try {
            digest = file.finish();
        } catch (const std::system_error& e) {
            return error("io", e.what(), file.bytes());
        }
        return finish(crypto::to_hex(digest), file.bytes());
    }

    PullEvent fail(std::string code, std::string message) const { return error(std::move(code), std::move(message)); }

private:
    void emit(const PullEvent& e) const {
        if (o_.on_event) o_.on_event(e);
    }

    PullEvent error(std::string code, std::string message, uint64_t bytes = 0) const {
        PullEvent e = base_;
        e.kind = PullEvent::Kind::Error;
        e.code = std::move(code);
        e.error = std::move(message);
        e.bytes = bytes;
        emit(e);
        return e;
    }

    // The bytes that came are kept for the next pull to resume from; an empty file is not left behind.
    PullEvent give_up(PartialFile& file, const std::string& code, std::string message) {
        file.close();
        std::error_code ec;
        if (file.bytes() == 0) {
            fs::remove(partial_, ec);
            fs::remove(meta_, ec);
        } else {
            message += "; " + config::format_size(file.bytes()) + " kept in " + partial_.string() + ": the same pull resumes from there";
        }
        return error(code, std::move(message), file.bytes());
    }

    enum class Next { Retry, GiveUp, Stopped };
    // After attempt `attempt` failed: a transient failure with retries left is said (a Retry event)
    // and waited out, unless the pull is stopped meanwhile.
    Next after_failure(const Failure& f, int attempt, uint64_t bytes) const {
        if (!is_transient(f.code, f.status) || attempt > o_.retries) return Next::GiveUp;
        PullEvent retry = base_;
        retry.kind = PullEvent::Kind::Retry;
        retry.attempt = attempt + 1;
        retry.retry_in_seconds = backoff_seconds(attempt + 1);
        retry.error = f.message;
        retry.bytes = bytes;
        emit(retry);
        return wait_unless_stopped(o_.stop, retry.retry_in_seconds) ? Next::Retry : Next::Stopped;
    }

    std::optional<PullEvent> look_up_published_digest() {
        for (int attempt = 1;; ++attempt) {
            auto head = http_head(transfer_options(o_));
            if (head.failure == TransferResult::Failure::None) {
                if (auto digest = published_sha256(head.headers)) base_.expected_sha256 = *digest;
                for (const char* name : {"x-linked-size", "content-length"}) {
                    if (auto it = head.headers.find(name); it != head.headers.end() && !total_hint_) total_hint_ = parse_number(it->second);
                }
                return std::nullopt;
            }
            const auto f = describe_failure(head, o_);
            switch (after_failure(f, attempt, 0)) {
                case Next::Retry:
                    continue;
                case Next::Stopped:
                    return error("cancelled", "the pull was stopped");
                case Next::GiveUp:
                    return error(f.code, f.message);
            }
        }
    }

    PullEvent already_there() {
        crypto::Sha256 hasher;
        try {
            crypto::sha256_update_from_file(hasher, target_);
        } catch (const std::system_error& e) {
            return error("io", e.what());
        }
        const auto actual = crypto::to_hex(hasher.finish());
        std::error_code ec;
        const auto size = fs::file_size(target_, ec);
        if (!base_.expected_sha256.empty() && actual != base_.expected_sha256) {
            auto e = base_;
            e.kind = PullEvent::Kind::Error;
            e.code = "exists";
            e.sha256 = actual;
            e.error = target_.string() + " is already there with other content (sha256 " + actual + ", expected " + base_.expected_sha256 +
                      "): remove it, or save this one under another --name";
            emit(e);
            return e;
        }
        PullEvent done = base_;
        done.kind = PullEvent::Kind::Done;
        done.already_present = true;
        done.bytes = ec ? 0 : size;
        done.sha256 = actual;
        done.verified = !base_.expected_sha256.empty();
        emit(done);
        return done;
    }

    PullEvent finish(const std::string& actual, uint64_t bytes) {
        std::error_code ec;
        if (!base_.expected_sha256.empty() && actual != base_.expected_sha256) {
            const auto quarantined = quarantine_path(o_.dir, o_.file_name, std::chrono::system_clock::now());
            fs::create_directories(quarantined.parent_path(), ec);
            if (!ec) fs::rename(partial_, quarantined, ec);
            fs::remove(meta_, ec);
            if (!ec) {
                std::ofstream note(quarantined.string() + ".txt");
                note << "source: " << o_.source.text << "\nurl: " << o_.source.url << "\nexpected sha256: " << base_.expected_sha256
                     << "\nactual sha256:   " << actual << "\n";
            }
            PullEvent e = base_;
            e.kind = PullEvent::Kind::Error;
            e.code = "digest_mismatch";
            e.bytes = bytes;
            e.sha256 = actual;
            e.quarantined = ec ? partial_.string() : quarantined.string();
            e.error =
                "the file's SHA-256 is " + actual + " but " + base_.expected_sha256 + " was expected; it was moved to " + e.quarantined;
            emit(e);
            return e;
        }
        fs::rename(partial_, target_, ec);
        if (ec) return error("io", "cannot rename " + partial_.string() + " to " + target_.string() + ": " + ec.message(), bytes);
        fs::remove(meta_, ec);
        sync_folder(o_.dir);
        PullEvent done = base_;
        done.kind = PullEvent::Kind::Done;
        done.bytes = bytes;
        done.sha256 = actual;
        done.verified = !base_.expected_sha256.empty();
        emit(done);
        return done;
    }

    const PullOptions& o_;
    fs::path target_, partial_, meta_;
    PullEvent base_;
    std::optional<uint64_t> total_hint_;
};

}  // namespace

PullEvent run_pull(const PullOptions& options) {
    PullEvent last;
    for (const auto& file : files_to_pull(options.source, options.file_name)) {
        PullOptions one = options;
        one.source = file.source;
        one.file_name = file.file_name;
        Pull pull(one);
        try {
            last = pull.run();
        } catch (const std::exception& e) {  // a file that cannot be written or read, OpenSSL failing: said, never thrown at a thread
            last = pull.fail("io", e.what());
        }
        if (last.kind != PullEvent::Kind::Done) break;  // the parts already fetched stay: the same pull goes on from there
    }
    return last;
}

}  // namespace corral::pull
