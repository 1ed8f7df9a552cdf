// A client's connection, plain TCP or TLS: one stream type for the listener, Exchange and forward,
// so the request path is the same either way. It models Asio's AsyncReadStream and
// AsyncWriteStream; deadlines live on the TCP layer underneath (Beast's tcp_stream timer).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>
#include <variant>

namespace corral::proxy {

class ClientStream {
public:
    using executor_type = boost::asio::any_io_executor;
    using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

    explicit ClientStream(boost::asio::ip::tcp::socket socket) : stream_(std::in_place_type<boost::beast::tcp_stream>, std::move(socket)) {}
    ClientStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls)
        : stream_(std::in_place_type<tls_stream>, boost::beast::tcp_stream(std::move(socket)), tls) {}

    bool tls() const { return std::holds_alternative<tls_stream>(stream_); }
    executor_type get_executor() { return tcp().get_executor(); }
    boost::beast::tcp_stream& tcp() {
        return std::visit([](auto& s) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(s); }, stream_);
    }

    template <class Duration>
    void expires_after(Duration d) {
        tcp().expires_after(d);
    }
    void expires_at(std::chrono::steady_clock::time_point t) { tcp().expires_at(t); }
    void expires_never() { tcp().expires_never(); }
    void cancel() { tcp().cancel(); }

    // Plain TCP takes the caller's buffers and handler as they are; TLS takes them through one
    // buffer list type and a type-erased handler, so its operations (OpenSSL's engine under Asio's
    // and Beast's templates) are compiled once, in client_stream.cpp, instead of once for every
    // buffer sequence and handler Beast's algorithms pass (exchange.cpp compiled in 84 s with them,
    // 50 s without, in the ASan build).
    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                if (auto* plain = std::get_if<boost::beast::tcp_stream>(&stream_))
                    plain->async_read_some(b, std::move(handler));
                else
                    tls_read_some(BufferList<boost::asio::mutable_buffer>::first_of(b), IoHandler(std::move(handler), get_executor()));
            },
            token, buffers);
    }
    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                if (auto* plain = std::get_if<boost::beast::tcp_stream>(&stream_))
                    plain->async_write_some(b, std::move(handler));
                else
                    tls_write_some(BufferList<boost::asio::const_buffer>::first_of(b), IoHandler(std::move(handler), get_executor()));
            },
            token, buffers);
    }

    // The TLS server handshake (nothing for plain TCP), under the deadline set before it.
    boost::asio::awaitable<boost::system::error_code> handshake();
    // Ends the connection: TLS sends close_notify first (bounded by `grace`), then the socket closes.
    boost::asio::awaitable<void> close(std::chrono::milliseconds grace);

private:
    // The first non-empty buffers of a sequence, by value: a read_some or write_some may move fewer
    // bytes than it is given, and a TLS one never moves more than a record's worth. (Empty ones are
    // skipped: a sequence that began with more than kMax of them must not look empty.)
    template <class Buffer>
    struct BufferList {
        static constexpr std::size_t kMax = 8;
        std::array<Buffer, kMax> items{};
        std::size_t count = 0;
        const Buffer* begin() const { return items.data(); }
        const Buffer* end() const { return items.data() + count; }

        template <class Buffers>
        static BufferList first_of(const Buffers& buffers) {
            BufferList list;
            for (auto it = boost::asio::buffer_sequence_begin(buffers);
                 it != boost::asio::buffer_sequence_end(buffers) && list.count < kMax; ++it)
                if (Buffer buffer(*it); buffer.size() > 0) list.items[list.count++] = buffer;
            return list;
        }
    };
    // A read's or write's completion handler behind one type. (Asio's any_completion_handler would
    // do, but Boost 1.81's any_completion_executor cannot be required never to block, which Beast's
    // stream needs to post a completion: the executor is kept as an any_io_executor instead.)
    class IoHandler {
    public:
        using executor_type = boost::asio::any_io_executor;
        using cancellation_slot_type = boost::asio::cancellation_slot;

        template <class Handler>
        IoHandler(Handler handler, const executor_type& fallback)
            : executor_(boost::asio::get_associated_executor(handler, fallback)),
              slot_(boost::asio::get_associated_cancellation_slot(handler)),
              handler_(std::make_unique<Holder<Handler>>(std::move(handler))) {}

        executor_type get_executor() const noexcept { return executor_; }
        cancellation_slot_type get_cancellation_slot() const noexcept { return slot_; }
        void operator()(boost::system::error_code ec, std::size_t n) {
            auto handler = std::move(handler_);
            handler->complete(ec, n);
        }

    private:
        struct Base {
            virtual ~Base() = default;
            virtual void complete(boost::system::error_code ec, std::size_t n) = 0;
        };
        template <class Handler>
        struct Holder final : Base {
            explicit Holder(Handler h) : handler(std::move(h)) {}
            void complete(boost::system::error_code ec, std::size_t n) override { std::move(handler)(ec, n); }
            Handler handler;
        };

        executor_type executor_;
        cancellation_slot_type slot_;
        std::unique_ptr<Base> handler_;
    };
    void tls_read_some(BufferList<boost::asio::mutable_buffer> buffers, IoHandler handler);
    void tls_write_some(BufferList<boost::asio::const_buffer> buffers, IoHandler handler);

    std::variant<boost::beast::tcp_stream, tls_stream> stream_;
};

}  // namespace corral::proxy
