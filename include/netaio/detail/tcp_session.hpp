// netaio/detail/tcp_session.hpp - one TCP connection: socket, decoder, writer, deadlines.
//
// Shared by the server and the client. Exactly one write is in flight per socket:
// frames are queued (bounded); an idle socket starts writing at once, and what is
// queued meanwhile (e.g. the other replies to one read) leaves in one gathered write.
// Deadlines are enforced by the owner's periodic sweep (one timer per node, not
// per connection), using the timestamps kept here.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/errors.hpp>
#include <netaio/frame_decoder.hpp>
#include <netaio/options.hpp>
#include <netaio/peer.hpp>
#include <netaio/stats.hpp>
#include <netaio/version.hpp>

#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <vector>

NETAIO_BEGIN_NAMESPACE
namespace detail {

using steady = std::chrono::steady_clock;

class tcp_session : public std::enable_shared_from_this<tcp_session> {
public:
    tcp_session(asio::ip::tcp::socket socket, std::uint64_t id, tcp_connection_options options,
                const message_type_set& types)
        : socket_(std::move(socket)),
          id_(id),
          options_(std::move(options)),
          decoder_(options_.limits, types),
          drained_(socket_.get_executor()),
          last_frame_at_(steady::now()) {
        std::error_code ec;
        auto endpoint = socket_.remote_endpoint(ec);
        if (!ec) remote_ = peer_address{endpoint.address().to_string(), endpoint.port()};
        if (options_.no_delay) socket_.set_option(asio::ip::tcp::no_delay(true), ec);
        if (options_.send_buffer_size > 0)
            socket_.set_option(asio::socket_base::send_buffer_size(static_cast<int>(options_.send_buffer_size)), ec);
        if (options_.receive_buffer_size > 0)
            socket_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(options_.receive_buffer_size)), ec);
        // flush() writes synchronously first and must never block (async operations
        // are unaffected by this flag).
        socket_.non_blocking(true, ec);
    }

    std::uint64_t id() const noexcept { return id_; }
    const peer_address& remote() const noexcept { return remote_; }
    asio::ip::tcp::socket& socket() noexcept { return socket_; }
    stream_decoder& decoder() noexcept { return decoder_; }
    bool is_open() const noexcept { return !closed_; }
    errc close_reason() const noexcept { return close_reason_; }

    /// Where the next read goes: read_chunk bytes, but never more than the largest
    /// frame the limits allow minus what is buffered (the rest of a partial frame).
    /// The receive buffer thus never grows past the frame cap (RELIABILITY A11):
    /// with a 4 KiB cap a connection holds at most 4 KiB however large read_chunk is.
    std::span<std::uint8_t> read_space() {
        const std::size_t cap = decoder_.frame_cap();
        const std::size_t buffered = decoder_.buffered();
        const std::size_t room = cap > buffered ? cap - buffered : 1;
        return decoder_.prepare(std::max<std::size_t>(1, std::min(options_.read_chunk, room)));
    }

    // ---- writing -----------------------------------------------------------------

    std::size_t queued_bytes() const noexcept { return queued_bytes_; }
    /// Bytes of completed writes on this connection (write progress, for gauges).
    std::uint64_t bytes_written() const noexcept { return bytes_written_; }
    std::size_t queued_messages() const noexcept { return queue_.size(); }
    bool queue_has_room() const noexcept {
        return queue_.size() < options_.max_queued_messages && queued_bytes_ < options_.max_queued_bytes;
    }

    /// When an idle connection writes a queued frame.
    enum class write_timing {
        end_of_turn,  ///< once the handlers already scheduled have run: what they queue joins it
        now,          ///< at once: nothing is expected to join it (see request_into)
    };

    /// Queue one encoded frame. `force` ignores the caps (replies: the reader applies
    /// backpressure instead). False when the queue is full or the connection closed.
    bool enqueue(bytes frame, bool force = false, write_timing timing = write_timing::end_of_turn) {
        if (closed_) return false;
        if (!force && !queue_has_room()) return false;
        queued_bytes_ += frame.size();
        queue_.push_back(std::move(frame));
        // Frames queued while a write is in flight, or while corked, leave together in
        // the next write.
        if (writing_ || corked_) return true;
        if (timing == write_timing::now)
            flush();
        else
            flush_soon();
        return true;
    }

    /// Hold queued frames while the frames of one read are handled, so that all the
    /// replies they produce leave in one gathered write (one syscall, not two).
    void cork() noexcept { corked_ = true; }
    /// Stop holding and write what was queued.
    void uncork() {
        corked_ = false;
        flush();
    }

    /// An empty buffer to encode a frame into: one that already carried a frame on
    /// this connection when available, so steady traffic allocates nothing.
    bytes take_buffer() {
        if (spare_.empty()) return {};
        bytes b = std::move(spare_.back());
        spare_.pop_back();
        return b;
    }
    /// Return a buffer that was not queued (e.g. encoding failed) for reuse.
    void recycle(bytes b) {
        // Keep a few modest buffers only: a burst of large frames must not pin memory.
        if (spare_.size() >= max_spare_buffers || b.capacity() > max_spare_capacity) return;
        b.clear();
        spare_.push_back(std::move(b));
    }

    /// Wait until the outbound queue is below half its caps (reader backpressure).
    asio::awaitable<void> wait_for_queue_room() {
        if (corked_) uncork();  // held frames must drain for room to appear
        while (!closed_ && !below_low_watermark()) co_await drained_.wait();
    }

    /// Wait until nothing is queued or in flight (graceful stop).
    asio::awaitable<void> wait_until_flushed() {
        if (corked_) uncork();
        while (!closed_ && (writing_ || !queue_.empty())) co_await drained_.wait();
    }

    // ---- deadlines -----------------------------------------------------------------

    /// Record the state after a read and its handlers: call with the number of
    /// complete frames the read produced. Back to waiting for the peer, so clocks
    /// paused by pause_peer_clocks() restart here (one clock read per read, not per frame).
    void note_read(std::size_t frames_completed) {
        const auto now = steady::now();
        peer_clocks_paused_ = false;
        if (frames_completed > 0) last_frame_at_ = now;
        const bool mid = decoder_.mid_frame();
        if (mid && (!mid_frame_ || frames_completed > 0)) frame_started_at_ = now;
        mid_frame_ = mid;
    }

    /// The reader stops waiting for the peer: a handler runs, or our own outbound
    /// queue is full (backpressure). Neither is the peer's idleness or slowness, so
    /// the idle and frame clocks stop until the next note_read().
    void pause_peer_clocks() noexcept { peer_clocks_paused_ = true; }

    /// The reason a deadline has passed at `now`, if any.
    std::optional<errc> expired(steady::time_point now) const {
        if (closed_) return std::nullopt;
        if (writing_ && options_.write_timeout.count() > 0 && now - write_started_at_ > options_.write_timeout)
            return errc::write_timeout;
        if (peer_clocks_paused_) return std::nullopt;
        if (mid_frame_ && options_.frame_timeout.count() > 0 && now - frame_started_at_ > options_.frame_timeout)
            return errc::frame_timeout;
        if (!mid_frame_ && options_.idle_timeout.count() > 0 && now - last_frame_at_ > options_.idle_timeout)
            return errc::idle_timeout;
        return std::nullopt;
    }

    // ---- closing -------------------------------------------------------------------

    /// Close now (idempotent): pending reads and writes complete with errors.
    void close(errc reason) {
        if (closed_) return;
        closed_ = true;
        close_reason_ = reason;
        std::error_code ec;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        socket_.close(ec);
        if (!writing_) release_queue();  // else the in-flight write still references it
        drained_.notify_all();
        if (on_close) on_close(reason);
    }

    /// Close once everything queued has been written (e.g. after a DISCONNECT).
    void close_when_flushed(errc reason) {
        if (closed_) return;
        if (!writing_ && queue_.empty()) return close(reason);
        close_after_flush_ = true;
        close_after_flush_reason_ = reason;
    }

    /// Stop reading (the reader sees end of stream) but keep writing.
    void shutdown_receive() {
        std::error_code ec;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
    }

    /// Called once when the session closes.
    std::function<void(errc)> on_close;
    /// Where completed writes are counted (frames_sent, writes, bytes_sent): the node's.
    std::shared_ptr<node_stats> write_stats;

private:
    bool below_low_watermark() const noexcept {
        return queue_.size() <= options_.max_queued_messages / 2 && queued_bytes_ <= options_.max_queued_bytes / 2;
    }

    /// Write what is queued once the handlers already scheduled have run, rather than
    /// now: when a read completes many requests, the coroutines it resumes each send
    /// their next request, and all of those leave in one write instead of the first
    /// alone and the rest in a second one (half the send syscalls when pipelining).
    void flush_soon() {
        if (flush_posted_) return;
        flush_posted_ = true;
        asio::post(socket_.get_executor(), [self = shared_from_this()] {
            self->flush_posted_ = false;
            self->flush();
        });
    }

    void flush() {
        if (!closed_ && !writing_ && queue_.empty() && close_after_flush_) return close(close_after_flush_reason_);
        if (closed_ || writing_ || queue_.empty()) return;
        writing_ = true;
        in_flight_ = queue_.size();
        gather_.clear();
        for (const bytes& frame : queue_) gather_.emplace_back(asio::buffer(frame));
        // A lone frame (request/response traffic) is first offered to the kernel here
        // and now. The socket is non-blocking, so this never waits; when the kernel
        // takes it all (the usual case) the write is over without an Asio operation,
        // i.e. without a completion handler queued for a later turn of the executor.
        // Several frames mean the peer is pipelining: those go through async_write,
        // and what is queued until it completes joins the next write, so both sides
        // keep streaming instead of taking turns with ever larger batches (measured:
        // pipelined throughput halves when batches are written inline too).
        if (gather_.size() > 1) return async_write_rest(0);
        std::error_code ec;
        const std::size_t sent = socket_.write_some(gather_.front(), ec);
        if (!ec && sent == gather_.front().size() && !close_after_flush_) {
            finish_write(sent);
            after_write();
            return;
        }
        // The rest (or all of it, after an error: async_write reports it in order, from
        // a later turn, as before) goes through async_write.
        async_write_rest(ec ? 0 : sent);
    }

    /// async_write what `gather_` holds past its first `already_sent` bytes.
    void async_write_rest(std::size_t already_sent) {
        // The write deadline clock starts here: an inline write that completes never
        // needs it (one clock read less per frame).
        write_started_at_ = steady::now();
        std::size_t skip = already_sent;
        std::size_t first = 0;
        while (skip > 0 && skip >= gather_[first].size()) skip -= gather_[first++].size();
        gather_.erase(gather_.begin(), gather_.begin() + static_cast<std::ptrdiff_t>(first));
        if (skip > 0) gather_.front() += skip;
        // A span, not the vector: async_write copies its buffer sequence, and gather_
        // stays untouched until the write completes.
        const std::span<const asio::const_buffer> buffers(gather_);
        asio::async_write(socket_, buffers, [self = shared_from_this(), already_sent](std::error_code ec, std::size_t n) {
            self->on_write_done(ec, already_sent + n);
        });
    }

    void release_queue() {
        queue_.clear();
        queued_bytes_ = 0;
    }

    void on_write_done(std::error_code ec, std::size_t n) {
        if (closed_) {
            writing_ = false;
            release_queue();
            return;
        }
        if (ec) {
            writing_ = false;
            close(errc::connection_lost);
            return;
        }
        finish_write(n);
        after_write();
    }

    /// The frames of the write that just ended are out: recycle their buffers.
    void finish_write(std::size_t n) {
        writing_ = false;
        for (std::size_t i = 0; i < in_flight_; ++i) {
            queued_bytes_ -= queue_[i].size();
            recycle(std::move(queue_[i]));
        }
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(in_flight_));
        bytes_written_ += n;
        if (write_stats) {
            write_stats->frames_sent += in_flight_;
            ++write_stats->writes;
            write_stats->bytes_sent += n;
        }
        in_flight_ = 0;
    }

    /// Start the next write, or tell the waiters the queue has drained.
    void after_write() {
        if (!queue_.empty()) {
            flush();
        } else {
            drained_.notify_all();
            if (close_after_flush_) return close(close_after_flush_reason_);
        }
        if (below_low_watermark()) drained_.notify_all();
    }

    asio::ip::tcp::socket socket_;
    std::uint64_t id_;
    tcp_connection_options options_;  // a copy: a session may outlive its node's options
    stream_decoder decoder_;
    peer_address remote_;

    static constexpr std::size_t max_spare_buffers = 16;
    static constexpr std::size_t max_spare_capacity = 128 * 1024;

    // A vector, not a deque: it keeps its capacity, so queueing allocates nothing
    // once warm. Moving a frame inside it does not move its bytes, which the gather
    // list of an in-flight write points into.
    std::vector<bytes> queue_;
    std::vector<bytes> spare_;  // written frames' buffers, for take_buffer()
    std::size_t queued_bytes_ = 0;
    std::uint64_t bytes_written_ = 0;
    std::size_t in_flight_ = 0;
    std::vector<asio::const_buffer> gather_;
    bool writing_ = false;
    bool corked_ = false;
    bool flush_posted_ = false;  // a flush_soon() is pending
    async_signal drained_;

    steady::time_point last_frame_at_;
    steady::time_point frame_started_at_{};
    steady::time_point write_started_at_{};
    bool mid_frame_ = false;
    bool peer_clocks_paused_ = false;

    bool closed_ = false;
    errc close_reason_ = errc::connection_lost;
    bool close_after_flush_ = false;
    errc close_after_flush_reason_ = errc::stopped;
};

}  // namespace detail
NETAIO_END_NAMESPACE
