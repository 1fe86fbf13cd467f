// netaio/frame_decoder.hpp - splitting a byte stream (TCP) or datagrams (UDP) into messages.
//
// The stream decoder is sans-I/O: bytes go in as they arrive, split anywhere, and
// whole messages come out, several per read if several arrived. Sizes are checked
// against `frame_limits` as soon as the 9 header bytes are in, before any buffer
// grows for the frame, and the auth data is parsed as soon as it is complete, so a
// bad auth length is reported without waiting for a body that may never come.
//
//     stream_decoder decoder;
//     decoder.feed(received);
//     for (;;) {
//         std::error_code ec;
//         std::optional<Message> msg = decoder.next(ec);
//         if (msg) { handle(*msg); continue; }
//         if (!ec) break;                                      // need more bytes
//         if (ec == errc::checksum_mismatch) { reply_invalid(); continue; }  // frame skipped
//         close_connection(ec); break;                         // fatal: stream desynchronised
//     }
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/message_type.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>

NETAIO_BEGIN_NAMESPACE

class stream_decoder {
public:
    explicit stream_decoder(frame_limits limits = {}, message_type_set types = {})
        : limits_(std::move(limits)), types_(types) {}

    /// Copy received bytes into the decoder.
    void feed(bytes_view data) {
        std::memcpy(prepare(data.size()).data(), data.data(), data.size());
        commit(data.size());
    }

    /// Writable space for at least `n` more bytes (read straight into it, then commit).
    /// The buffer grows geometrically but not past frame_cap() unless a caller asks
    /// for more: a reader asking for at most frame_cap() - buffered() never holds
    /// more than frame_cap() bytes (RELIABILITY A11).
    std::span<std::uint8_t> prepare(std::size_t n) {
        if (start_ > 0 && (start_ == end_ || buffer_.size() - end_ < n)) compact();
        if (buffer_.size() - end_ < n) grow(end_ + n);
        return {buffer_.data() + end_, n};
    }
    /// Mark `n` bytes of the space from prepare() as received.
    void commit(std::size_t n) noexcept { end_ += n; }

    /// The next complete message. nullopt with no error: more bytes are needed.
    /// nullopt with errc::checksum_mismatch: a whole frame with a bad checksum was
    /// skipped and decoding can go on. nullopt with any other error: the stream is
    /// unusable (every later call fails with errc::decoder_failed).
    std::optional<Message> next(std::error_code& ec) {
        Message m;
        if (!next_into(m, ec)) return std::nullopt;
        return m;
    }

    /// Like next(), but decodes into `out`, reusing the capacity of its buffers, so a
    /// reader that recycles one Message allocates nothing per frame once warm.
    /// True when `out` holds a new message; on false `out` is unspecified.
    bool next_into(Message& out, std::error_code& ec) {
        ec.clear();
        if (failed_) {
            ec = make_error_code(errc::decoder_failed);
            return false;
        }
        const bytes_view available(buffer_.data() + start_, end_ - start_);
        if (!have_header_) {
            if (available.size() < header_size) return false;
            header_ = Header::decode(available, types_, ec);
            if (!ec) ec = detail::check_header(header_, limits_);
            if (ec) return fail();
            have_header_ = true;
        }
        const std::size_t auth_end = header_size + header_.auth_length;
        const std::size_t frame_end = auth_end + header_.body_length;
        if (!have_auth_) {
            if (available.size() < auth_end) return false;
            AuthFields::decode_into(auth_, available.subspan(header_size, header_.auth_length), limits_.auth_decoding,
                                    ec, &last_cause_);
            if (ec) return fail();
            have_auth_ = true;
        }
        if (available.size() < frame_end) return false;

        const bytes_view body = available.subspan(auth_end, header_.body_length);
        out.body.assign(body, ec);
        if (ec) return fail();
        // The frame is consumed whatever its checksum: the stream stays in step.
        start_ += frame_end;
        have_header_ = have_auth_ = false;
        if (detail::crc32(body) != header_.checksum) {
            ec = make_error_code(errc::checksum_mismatch);
            return false;
        }
        out.header = header_;
        // A swap, not a move: auth_ takes over the entries `out` had, whose storage
        // the next frame's auth data is decoded into.
        swap(out.auth_data, auth_);
        return true;
    }

    /// Bytes received but not yet returned as messages.
    std::size_t buffered() const noexcept { return end_ - start_; }
    /// Whether a fatal error has occurred.
    bool failed() const noexcept { return failed_; }
    /// Whether a frame has started but is not complete (for EOF-mid-frame reporting).
    bool mid_frame() const noexcept { return buffered() > 0; }
    /// The largest frame the limits let through (9 + auth + body caps, or max_frame_bytes).
    /// Saturating: limits set to SIZE_MAX ("unlimited") must not wrap to a tiny cap.
    std::size_t frame_cap() const noexcept {
        constexpr std::size_t most = static_cast<std::size_t>(-1);
        std::size_t sum = header_size;
        sum = limits_.max_auth_bytes > most - sum ? most : sum + limits_.max_auth_bytes;
        sum = limits_.max_body_bytes > most - sum ? most : sum + limits_.max_body_bytes;
        return std::min(limits_.max_frame_bytes, sum);
    }
    /// Bytes the receive buffer holds allocated (a gauge for the A11 memory bound).
    std::size_t capacity() const noexcept { return buffer_.capacity(); }
    /// The packify reason behind the last errc::malformed_auth.
    std::error_code last_cause() const noexcept { return last_cause_; }
    const frame_limits& limits() const noexcept { return limits_; }

private:
    bool fail() {
        failed_ = true;
        return false;
    }
    void grow(std::size_t size) {
        if (size > buffer_.capacity())
            buffer_.reserve(std::max(size, std::min(2 * buffer_.capacity(), frame_cap())));
        buffer_.resize(size);
    }
    void compact() {
        std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
        end_ -= start_;
        start_ = 0;
    }

    frame_limits limits_;
    message_type_set types_;
    bytes buffer_;
    std::size_t start_ = 0;  // first unconsumed byte
    std::size_t end_ = 0;    // one past the last received byte
    bool have_header_ = false;
    bool have_auth_ = false;
    bool failed_ = false;
    Header header_;
    AuthFields auth_;
    std::error_code last_cause_;
};

/// Decode one UDP datagram: it must hold exactly one frame (no trailing bytes, no
/// short frames: Python ignores the former and mis-slices the latter).
inline Message decode_datagram(bytes_view datagram, std::error_code& ec, const frame_limits& limits = {},
                               const message_type_set& types = {}) {
    return decode_frame(datagram, limits, types, ec);
}

NETAIO_END_NAMESPACE
