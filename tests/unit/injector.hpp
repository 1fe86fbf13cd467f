// tests/unit/injector.hpp - hostile-input helpers for the TCP reliability tests
// (RELIABILITY.md §3.1 "Injector"): a raw socket that writes arbitrary bytes, and a
// frame builder whose every header field, auth bytes and body bytes can be overridden.
//
//     netaio_test::raw_socket s(co_await asio::this_coro::executor);
//     co_await s.connect(port);                                   // or connect(port, "127.0.0.2")
//     co_await s.write(frame_builder(msg).type(99).build());
//     netaio_test::close_outcome c = co_await s.wait_closed(1s);  // server closed it? how fast?
//
// All operations are coroutines on the caller's executor; reads take a deadline.
// Everything here is header-only and inline (several test files include it).
#pragma once

#include "loopback_support.hpp"

#include <netaio/detail/asio_compat.hpp>
#include <netaio/detail/crc32.hpp>
#include <netaio/message.hpp>
#include <netaio/tcp_client.hpp>

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

// GCC 12 at -O1 and above: when it inlines Asio's coroutine-frame operator new into a
// coroutine's ramp but not the matching class-specific operator delete, it reports a
// false -Wmismatched-new-delete at the coroutine's closing brace (seen on the liveness
// helper below). The pragma covers only the helpers in this header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace netaio_test {

/// Flip one bit of `data` (bit 0 = least significant bit of byte `index`).
inline netaio::bytes flip_bit(netaio::bytes data, std::size_t index, int bit = 0) {
    data.at(index) = static_cast<std::uint8_t>(data.at(index) ^ (1u << bit));
    return data;
}

inline netaio::bytes concat(netaio::bytes a, const netaio::bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

/// Builds a frame from a valid Message; any header field, the auth bytes or the body
/// bytes can be overridden. Unless overridden, auth_length / body_length / checksum
/// describe the (possibly overridden) auth and body bytes, so a single override
/// produces exactly one inconsistency.
class frame_builder {
public:
    explicit frame_builder(netaio::Message m) : message_(std::move(m)) {}

    frame_builder& type(std::uint8_t t) {
        type_ = t;
        return *this;
    }
    frame_builder& auth_length(std::uint16_t n) {
        auth_length_ = n;
        return *this;
    }
    frame_builder& body_length(std::uint16_t n) {
        body_length_ = n;
        return *this;
    }
    frame_builder& checksum(std::uint32_t c) {
        checksum_ = c;
        return *this;
    }
    frame_builder& auth_bytes(netaio::bytes b) {
        auth_ = std::move(b);
        return *this;
    }
    frame_builder& body_bytes(netaio::bytes b) {
        body_ = std::move(b);
        return *this;
    }
    /// Override the u16 uri length at the start of the body (the checksum follows the new body).
    frame_builder& uri_length(std::uint16_t n) {
        netaio::bytes b = body();
        if (b.size() < 2) b.resize(2);
        netaio::detail::put_u16be(b.data(), n);
        body_ = std::move(b);
        return *this;
    }

    netaio::bytes auth() const { return auth_ ? *auth_ : message_.auth_data.encode(); }
    netaio::bytes body() const { return body_ ? *body_ : message_.body.encode(); }
    /// The header exactly as build() writes it.
    netaio::Header header() const {
        const netaio::bytes a = auth();
        const netaio::bytes b = body();
        netaio::Header h;
        h.message_type = static_cast<netaio::MessageType>(type_.value_or(static_cast<std::uint8_t>(message_.type())));
        h.auth_length = auth_length_.value_or(static_cast<std::uint16_t>(a.size()));
        h.body_length = body_length_.value_or(static_cast<std::uint16_t>(b.size()));
        h.checksum = checksum_.value_or(netaio::detail::crc32(b));
        return h;
    }
    /// header || auth bytes || body bytes (the bytes actually present, whatever the header says).
    netaio::bytes build() const {
        netaio::bytes out = header().encode();
        netaio::detail::append(out, auth());
        netaio::detail::append(out, body());
        return out;
    }

private:
    netaio::Message message_;
    std::optional<std::uint8_t> type_;
    std::optional<std::uint16_t> auth_length_;
    std::optional<std::uint16_t> body_length_;
    std::optional<std::uint32_t> checksum_;
    std::optional<netaio::bytes> auth_;
    std::optional<netaio::bytes> body_;
};

/// A REQUEST_URI message (no auth fields) - the usual starting point for frames.
inline netaio::Message request_msg(std::string_view uri, std::string_view content,
                                   netaio::MessageType type = netaio::MessageType::REQUEST_URI) {
    return netaio::Message::prepare(netaio::Body::prepare(content, uri), type);
}

/// PROTOCOL §1.7 item 7: the plaintext HMAC auth-failure reply.
inline const netaio::bytes auth_error_frame =
    netaio::from_hex("1700030017c7eb481f4d400000054552524f52484d41432061757468206661696c6564");
/// PROTOCOL §1.7 item 4: the checksum-failure reply with no plugins.
inline const netaio::bytes invalid_message_frame =
    netaio::from_hex("14000300162ab916634d400000054552524f52696e76616c6964206d657373616765");

/// How a wait for the server to close ended.
struct close_outcome {
    bool closed = false;        ///< EOF or a reset was seen (false: the deadline passed first)
    std::error_code ec;         ///< asio::error::eof, connection_reset, ...
    double ms = 0;              ///< time from the reference point to the close
    std::size_t bytes = 0;      ///< bytes read (and discarded) meanwhile
};

/// A plain TCP socket for hostile input. Reads go to an internal buffer that the
/// frame readers split; the helper survives the test coroutine's suspensions.
class raw_socket {
public:
    explicit raw_socket(asio::any_io_executor ex) : state_(std::make_shared<state>(std::move(ex))) {}
    raw_socket(const raw_socket&) = delete;
    raw_socket& operator=(const raw_socket&) = delete;
    ~raw_socket() {
        std::error_code ec;
        state_->socket.close(ec);
    }

    asio::ip::tcp::socket& socket() noexcept { return state_->socket; }

    /// Connect to 127.0.0.1:port from `source` (any 127.0.0.N address), optionally with
    /// a small receive buffer (set before connecting, so the window stays small).
    asio::awaitable<void> connect(std::uint16_t port, const char* source = nullptr, int receive_buffer = 0) {
        auto& s = state_->socket;
        s.open(asio::ip::tcp::v4());
        if (receive_buffer > 0) s.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
        if (source) s.bind(asio::ip::tcp::endpoint(asio::ip::make_address(source), 0));
        s.set_option(asio::ip::tcp::no_delay(true));
        co_await s.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                 asio::use_awaitable);
    }

    /// Accept one connection on `acceptor` (this helper then plays the server).
    asio::awaitable<void> accept(asio::ip::tcp::acceptor& acceptor) {
        state_->socket = co_await acceptor.async_accept(asio::use_awaitable);
        state_->socket.set_option(asio::ip::tcp::no_delay(true));
    }

    std::uint16_t local_port() const {
        std::error_code ec;
        auto ep = state_->socket.local_endpoint(ec);
        return ec ? 0 : ep.port();
    }

    /// Write all of `data`; the error (e.g. broken pipe after the server closed) is returned.
    asio::awaitable<std::error_code> write(netaio::bytes data) {
        auto [ec, n] = co_await asio::async_write(state_->socket, asio::buffer(data), netaio::detail::use_nothrow);
        (void)n;
        co_return ec;
    }

    /// Write `data` in chunks of `chunk` bytes with `gap` between them; stops at the first error.
    asio::awaitable<std::error_code> write_chunks(netaio::bytes data, std::size_t chunk, std::chrono::milliseconds gap) {
        for (std::size_t at = 0; at < data.size(); at += chunk) {
            const std::size_t n = std::min(chunk, data.size() - at);
            auto [ec, written] =
                co_await asio::async_write(state_->socket, asio::buffer(data.data() + at, n), netaio::detail::use_nothrow);
            (void)written;
            if (ec) co_return ec;
            if (at + n < data.size()) co_await pause(gap);
        }
        co_return std::error_code();
    }

    /// FIN: no more bytes from us.
    void shutdown_send() {
        std::error_code ec;
        state_->socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    }

    /// RST: close with SO_LINGER 0.
    void reset() {
        std::error_code ec;
        state_->socket.set_option(asio::socket_base::linger(true, 0), ec);
        state_->socket.close(ec);
    }

    void close() {
        std::error_code ec;
        state_->socket.close(ec);
    }

    /// Whether a read has seen EOF or an error (the peer closed or reset).
    bool peer_closed() const noexcept { return state_->closed; }
    const std::error_code& close_error() const noexcept { return state_->close_ec; }
    /// Bytes read but not yet returned as frames.
    const netaio::bytes& buffered() const noexcept { return state_->pending; }

    /// One read with a deadline: appends to the buffer. Returns false on timeout or close.
    asio::awaitable<bool> read_some_for(std::chrono::milliseconds limit) {
        auto st = state_;
        if (st->closed) co_return false;
        const std::uint64_t generation = ++st->generation;
        asio::steady_timer timer(st->socket.get_executor(), limit);
        std::weak_ptr<state> weak = st;
        timer.async_wait([weak, generation](std::error_code ec) {
            auto alive = weak.lock();
            if (!ec && alive && alive->generation == generation) {
                alive->timed_out = true;
                std::error_code ignored;
                alive->socket.cancel(ignored);
            }
        });
        st->timed_out = false;
        st->chunk.resize(64 * 1024);
        auto [ec, n] = co_await st->socket.async_read_some(asio::buffer(st->chunk), netaio::detail::use_nothrow);
        ++st->generation;  // a late timer completion must not cancel a later read
        timer.cancel();
        if (n > 0) st->pending.insert(st->pending.end(), st->chunk.begin(), st->chunk.begin() + static_cast<std::ptrdiff_t>(n));
        if (ec) {
            if (st->timed_out && ec == asio::error::operation_aborted) co_return false;
            st->closed = true;
            st->close_ec = ec;
            co_return false;
        }
        co_return true;
    }

    /// The raw bytes of the next whole frame (split by its header lengths), or nullopt
    /// when the deadline passes or the peer closes first.
    asio::awaitable<std::optional<netaio::bytes>> read_frame_bytes(std::chrono::milliseconds limit = std::chrono::seconds(2)) {
        const auto until = test_clock::now() + limit;
        for (;;) {
            if (auto frame = take_frame()) co_return frame;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - test_clock::now());
            if (left.count() <= 0 || state_->closed) co_return std::nullopt;
            (void)co_await read_some_for(left);
        }
    }

    /// The next frame decoded; nullopt on timeout/close. A frame that does not decode fails the test.
    asio::awaitable<std::optional<netaio::Message>> read_message(std::chrono::milliseconds limit = std::chrono::seconds(2)) {
        std::optional<netaio::bytes> frame = co_await read_frame_bytes(limit);
        if (!frame) co_return std::nullopt;
        std::error_code ec;
        netaio::Message m = netaio::Message::decode(*frame, ec);
        if (ec) FAIL("injector: undecodable frame from the node: " << ec.message());
        co_return m;
    }

    /// Read (and discard) until the peer closes or `limit` passes. `ms` is measured from `since`.
    asio::awaitable<close_outcome> wait_closed(std::chrono::milliseconds limit,
                                               test_clock::time_point since = test_clock::now()) {
        close_outcome out;
        const auto until = test_clock::now() + limit;
        const std::size_t before = state_->pending.size();
        while (!state_->closed) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - test_clock::now());
            if (left.count() <= 0) break;
            (void)co_await read_some_for(left);
        }
        out.closed = state_->closed;
        out.ec = state_->close_ec;
        out.ms = std::chrono::duration<double, std::milli>(test_clock::now() - since).count();
        out.bytes = state_->pending.size() - before;
        co_return out;
    }

private:
    std::optional<netaio::bytes> take_frame() {
        auto& p = state_->pending;
        if (p.size() < netaio::header_size) return std::nullopt;
        const std::size_t total =
            netaio::header_size + netaio::detail::get_u16be(p.data() + 1) + netaio::detail::get_u16be(p.data() + 3);
        if (p.size() < total) return std::nullopt;
        netaio::bytes frame(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(total));
        p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(total));
        return frame;
    }

    struct state {
        explicit state(asio::any_io_executor ex) : socket(std::move(ex)) {}
        asio::ip::tcp::socket socket;
        netaio::bytes chunk;
        netaio::bytes pending;
        std::uint64_t generation = 0;
        bool timed_out = false;
        bool closed = false;
        std::error_code close_ec;
    };
    std::shared_ptr<state> state_;
};

/// Write a blob on `s` beside the test body; `done` is set when the write ends, and
/// its error (the server may close the connection under it) goes to `result` if given.
inline asio::awaitable<void> write_in_background(raw_socket& s, netaio::bytes blob, bool& done,
                                                 std::error_code* result = nullptr) {
    const std::error_code ec = co_await s.write(std::move(blob));
    if (result) *result = ec;
    done = true;
}

/// Liveness (RELIABILITY §3.1): a good TCPClient, with the outer plugins the server
/// expects, completes a request to "echo" on the server at 127.0.0.1:`port`.
inline asio::awaitable<void> expect_alive_with(std::uint16_t port, netaio::any_auth_plugin auth,
                                               netaio::any_cipher_plugin cipher = nullptr) {
    netaio::tcp_client_options options;
    options.host = "127.0.0.1";
    options.port = port;
    options.auth_plugin = std::move(auth);
    options.cipher_plugin = std::move(cipher);
    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    netaio::TCPClient client(ex, options);
    co_await client.connect();
    netaio::request_options ro;
    ro.timeout(std::chrono::seconds(2));
    netaio::Message reply = co_await client.request("echo", "alive", ro);
    CHECK(reply.type() == netaio::MessageType::RESPOND_URI);
    CHECK(text_of(reply.body.content) == "alive");
    client.close();
}

/// Liveness for a server without plugins.
inline asio::awaitable<void> expect_alive(std::uint16_t port) { return expect_alive_with(port, nullptr, nullptr); }

}  // namespace netaio_test

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
