// bench/netaio_bench.cpp - round trips per second of netaio TCPServer/TCPClient
// against a minimal raw-Asio baseline that speaks the same framing.
//
//     netaio_bench                 ~1 s per cell, 3 repeats, medians
//     netaio_bench --quick         0.2 s per cell, 1 repeat (smoke test)
//     netaio_bench --seconds 2 --repeat 5 --single-thread
//     netaio_bench --no-raw --scenario pipelined --size 32 --plugins off   (for a profiler)
//
// Besides req/s, every cell reports the process CPU time per round trip (server and
// client threads, user + system): on a shared machine it varies less than req/s.
//
// Everything runs over loopback (127.0.0.1, port 0). By default the server runs on
// its own thread with its own io_context and the client on the main thread with
// another io_context; --single-thread puts both on one io_context. The raw
// baseline and netaio always use the same arrangement.
//
// Raw baseline (same Asio C++20 coroutines, same frames):
//   server  per connection: read a frame (9-byte header, then auth+body), turn it
//           into the reply in place (type byte := RESPOND_URI, auth and body
//           echoed, so the CRC stays valid) and write it. Checks nothing else.
//   client  builds a REQUEST_URI frame (header, empty packify dict 4d 40 00, body
//           u16 uri_len "echo" content, CRC-32 computed), writes it, reads the reply
//           frame and compares the body with what it sent.
//           Pipelined: 64 requester coroutines share one socket through a write
//           queue (one gathered write in flight) and a reader that completes the
//           requesters in FIFO order, as netaio's client does.
//   Reads are buffered by default (async_read_some into a buffer, frames parsed
//   out of it; the server answers all frames of one read with one gathered write,
//   as netaio does). --raw-naive instead reads exactly 9 bytes, then exactly
//   auth+body, and writes every reply on its own (more syscalls per frame, and no
//   batching when pipelined).
// netaio:  TCPServer with a REQUEST_URI "echo" handler returning RESPOND_URI with
//          the same content, turned into its reply in place (reply_in_place); the
//          TCPClient reuses one reply: `co_await client.request_into(reply, "echo", content)`.
//          --convenience: a handler building a new reply, `co_await client.request(...)`.
//
// Every request carries a fresh (worker id, sequence number) stamp in its content
// and every reply is checked against it. The program exits non-zero when a round
// trip fails or returns the wrong content, or when the allocation-free forms
// (plugins off) allocate once warm; never because of speed.
//
// Heap allocations: global operator new/delete are replaced with counting versions
// (counting switched on only inside the measured window, so throughput runs pay no
// atomic traffic). The count covers both threads (server + client) but only C++
// operator new, not malloc() calls made inside zlib or libsodium.
#include "bench_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/version.hpp>
#include <asio/write.hpp>

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// ============================================================== allocation counting

namespace bench_alloc {
std::atomic<bool> counting{false};
std::atomic<std::uint64_t> calls{0};
std::atomic<std::uint64_t> bytes{0};

inline void note(std::size_t n) noexcept {
    if (counting.load(std::memory_order_relaxed)) {
        calls.fetch_add(1, std::memory_order_relaxed);
        bytes.fetch_add(n, std::memory_order_relaxed);
    }
}
inline void* plain(std::size_t n) noexcept {
    note(n);
    return std::malloc(n == 0 ? 1 : n);
}
inline void* aligned(std::size_t n, std::align_val_t a) noexcept {
    note(n);
    const std::size_t al = std::max(static_cast<std::size_t>(a), sizeof(void*));
    const std::size_t size = (n == 0 ? al : (n + al - 1) / al * al);
    return std::aligned_alloc(al, size);
}
}  // namespace bench_alloc

// Not inlined: GCC's -Wmismatched-new-delete misfires when it sees free() inlined
// into callers of a replaced operator delete.
#define NOINLINE [[gnu::noinline]]
NOINLINE void* operator new(std::size_t n) {
    if (void* p = bench_alloc::plain(n)) return p;
    throw std::bad_alloc();
}
NOINLINE void* operator new[](std::size_t n) {
    if (void* p = bench_alloc::plain(n)) return p;
    throw std::bad_alloc();
}
NOINLINE void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return bench_alloc::plain(n); }
NOINLINE void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return bench_alloc::plain(n); }
NOINLINE void* operator new(std::size_t n, std::align_val_t a) {
    if (void* p = bench_alloc::aligned(n, a)) return p;
    throw std::bad_alloc();
}
NOINLINE void* operator new[](std::size_t n, std::align_val_t a) {
    if (void* p = bench_alloc::aligned(n, a)) return p;
    throw std::bad_alloc();
}
NOINLINE void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return bench_alloc::aligned(n, a); }
NOINLINE void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return bench_alloc::aligned(n, a);
}
NOINLINE void operator delete(void* p) noexcept { std::free(p); }
NOINLINE void operator delete[](void* p) noexcept { std::free(p); }
NOINLINE void operator delete(void* p, std::size_t) noexcept { std::free(p); }
NOINLINE void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
NOINLINE void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
NOINLINE void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
NOINLINE void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
NOINLINE void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
NOINLINE void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
NOINLINE void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
NOINLINE void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
NOINLINE void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

#if ASIO_VERSION >= 102400
constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);
#else
constexpr auto nothrow_awaitable = asio::experimental::as_tuple(asio::use_awaitable);
#endif

// ==================================================================== parameters

enum class impl { raw, netaio };
enum class scenario { pingpong, pipelined, connections };

constexpr int pipeline_depth = 64;     // requests in flight on one connection
constexpr int connection_count = 64;   // connections each doing ping-pong

const char* scenario_name(scenario s) {
    switch (s) {
        case scenario::pingpong: return "ping-pong, 1 conn";
        case scenario::pipelined: return "64 in flight, 1 conn";
        case scenario::connections: return "64 conns ping-pong";
    }
    return "?";
}
double scenario_goal(scenario s) { return s == scenario::pipelined ? 0.75 : 0.90; }

struct cell {
    scenario sc = scenario::pingpong;
    std::size_t size = 32;
    bool plugins = false;
};

struct run_params {
    double seconds = 1.0;
    double warmup_seconds = 0.2;
    bool single_thread = false;
    bool raw_naive = false;  // raw reader: exact 9-byte + auth/body reads, one write per reply
    // netaio side: request() and a handler building a new reply (the convenience
    // forms) instead of request_into() and reply_in_place() (the allocation-free ones).
    bool convenience_api = false;
    // Allocation mode: one ping-pong worker, `alloc_warmup` round trips, then
    // `alloc_rounds` counted ones; no timing.
    bool alloc_mode = false;
    std::uint64_t alloc_warmup = 1000;
    std::uint64_t alloc_rounds = 10000;
};

struct run_output {
    double rate = 0;                 // round trips per second
    double cpu_us = 0;               // process CPU time (user + system, all threads) per round trip
    std::uint64_t alloc_calls = 0;   // alloc mode
    std::uint64_t alloc_bytes = 0;
    std::uint64_t rounds = 0;
};

// Failures (wrong content, exceptions): remembered, reported, exit code 1.
std::atomic<bool> g_failed{false};
std::string g_first_failure;
std::uint64_t g_verified = 0;  // round trips checked, all runs (client threads only, runs are sequential)

void record_failure(const std::string& what) {
    if (!g_failed.exchange(true)) g_first_failure = what;
    std::fprintf(stderr, "netaio_bench: FAILURE: %s\n", what.c_str());
}


/// Shared state of the client workers of one run (client thread only).
struct run_state {
    explicit run_state(const asio::any_io_executor& ex) : done(ex, clock_type::time_point::max()) {}
    bool stop = false;
    std::uint64_t completed = 0;
    int running = 0;
    asio::steady_timer done;  // cancelled when the last worker ends
    // alloc mode
    bool alloc_mode = false;
    std::uint64_t alloc_warmup = 0, alloc_rounds = 0;
    std::uint64_t calls_before = 0, bytes_before = 0, calls_after = 0, bytes_after = 0;
    bool window_done = false;
};

/// Called by every worker after each verified round trip.
void note_completion(run_state* st) {
    ++st->completed;
    if (!st->alloc_mode) return;
    if (st->completed == st->alloc_warmup) {
        st->calls_before = bench_alloc::calls.load();
        st->bytes_before = bench_alloc::bytes.load();
        bench_alloc::counting.store(true);
    } else if (st->completed == st->alloc_warmup + st->alloc_rounds) {
        bench_alloc::counting.store(false);
        st->calls_after = bench_alloc::calls.load();
        st->bytes_after = bench_alloc::bytes.load();
        st->window_done = true;
        st->stop = true;
    }
}

/// Completion handler of a worker coroutine (not a coroutine itself).
struct worker_done {
    run_state* st;
    void operator()(std::exception_ptr e) const {
        if (e) {
            record_failure(bench::describe(e));
            st->stop = true;
        }
        if (--st->running == 0) st->done.cancel();
    }
};

/// Content of worker `id`: a fixed pattern; stamp() writes (id, seq) into its start.
std::vector<std::uint8_t> make_content(std::size_t size, std::uint32_t id) {
    std::vector<std::uint8_t> c(size);
    for (std::size_t i = 0; i < size; ++i) c[i] = static_cast<std::uint8_t>((i * 31 + id * 7) & 0xFF);
    return c;
}
void stamp(std::uint8_t* content, std::size_t size, std::uint32_t id, std::uint32_t seq) {
    std::uint8_t s[8];
    std::memcpy(s, &id, 4);
    std::memcpy(s + 4, &seq, 4);
    std::memcpy(content, s, std::min<std::size_t>(8, size));
}

/// CPU time of the whole process (every thread, user + system), in seconds.
double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Warm up, then count completions over `seconds`; then stop the workers and wait for them.
asio::awaitable<void> measure(run_state* st, run_params p, run_output* out) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    if (!st->alloc_mode) {
        t.expires_after(std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(p.warmup_seconds)));
        co_await t.async_wait(nothrow_awaitable);
        const std::uint64_t c0 = st->completed;
        const double cpu0 = process_cpu_seconds();
        const auto t0 = clock_type::now();
        t.expires_after(std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(p.seconds)));
        co_await t.async_wait(nothrow_awaitable);
        const std::uint64_t c1 = st->completed;
        const auto t1 = clock_type::now();
        const double cpu1 = process_cpu_seconds();
        st->stop = true;
        out->rounds = c1 - c0;
        out->rate = static_cast<double>(c1 - c0) / std::chrono::duration<double>(t1 - t0).count();
        out->cpu_us = c1 > c0 ? (cpu1 - cpu0) * 1e6 / static_cast<double>(c1 - c0) : 0;
    }
    // Drain: every worker finishes its round trip in flight. A worker stuck longer
    // than the limit (lost reply) is a failure; its frame is destroyed with the
    // io_context without being resumed.
    const auto limit = std::chrono::seconds(st->alloc_mode ? 300 : 30);
    const auto deadline = clock_type::now() + limit;
    st->done.expires_at(deadline);
    while (st->running > 0) {
        co_await st->done.async_wait(nothrow_awaitable);
        if (st->running > 0 && clock_type::now() >= deadline) {
            record_failure(std::to_string(st->running) + " worker(s) did not finish within " +
                           std::to_string(limit.count()) + " s (reply lost?)");
            co_return;
        }
    }
    g_verified += st->completed;
    if (st->alloc_mode) {
        bench_alloc::counting.store(false);  // in case the window never closed
        out->rounds = st->alloc_rounds;
        out->alloc_calls = st->calls_after - st->calls_before;
        out->alloc_bytes = st->bytes_after - st->bytes_before;
        if (!st->window_done) record_failure("allocation window not completed");
    }
}

// ==================================================================== raw baseline

constexpr std::uint8_t type_request = static_cast<std::uint8_t>(netaio::MessageType::REQUEST_URI);
constexpr std::uint8_t type_respond = static_cast<std::uint8_t>(netaio::MessageType::RESPOND_URI);
constexpr std::uint8_t empty_auth[3] = {0x4d, 0x40, 0x00};  // packify: empty dict
constexpr char raw_uri[4] = {'e', 'c', 'h', 'o'};
constexpr std::size_t raw_header = 9;

inline std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
inline void put16(std::uint8_t* p, std::size_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline void put32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

/// A request frame for `content_size` bytes of content, rebuilt in place per request.
struct raw_frame {
    explicit raw_frame(std::size_t content_size, std::uint32_t id)
        : content(make_content(content_size, id)),
          frame(raw_header + sizeof(empty_auth) + 2 + sizeof(raw_uri) + content_size) {}
    std::vector<std::uint8_t> content;
    std::vector<std::uint8_t> frame;
    std::size_t body_offset() const { return raw_header + sizeof(empty_auth); }
    std::size_t body_size() const { return frame.size() - body_offset(); }

    void build(std::uint32_t id, std::uint32_t seq) {
        stamp(content.data(), content.size(), id, seq);
        std::uint8_t* f = frame.data();
        std::uint8_t* body = f + body_offset();
        put16(body, sizeof(raw_uri));
        std::memcpy(body + 2, raw_uri, sizeof(raw_uri));
        if (!content.empty()) std::memcpy(body + 2 + sizeof(raw_uri), content.data(), content.size());
        f[0] = type_request;
        put16(f + 1, sizeof(empty_auth));
        put16(f + 3, body_size());
        put32(f + 5, static_cast<std::uint32_t>(::crc32(0L, body, static_cast<uInt>(body_size()))));
        std::memcpy(f + raw_header, empty_auth, sizeof(empty_auth));
    }
    /// Whether `reply` (a whole frame) answers the current request.
    bool matches(const std::uint8_t* reply, std::size_t n) const {
        if (n != frame.size() || reply[0] != type_respond) return false;
        const std::size_t auth = get16(reply + 1);
        const std::size_t body = get16(reply + 3);
        if (raw_header + auth + body != n || body != body_size()) return false;
        return std::memcmp(reply + raw_header + auth, frame.data() + body_offset(), body) == 0;
    }
};

/// Reads whole frames from a socket: the 9-byte header, then auth+body.
///   buffered (default): async_read_some into a 192 KiB buffer, frames parsed out
///       of it, so one read can yield several frames (as any real framed protocol
///       reader, and netaio's decoder, does);
///   naive (--raw-naive): async_read exactly 9 bytes, then exactly auth+body.
/// The span returned by next() stays valid until the next call to next().
struct raw_reader {
    // Room for the largest frame (9 + 65535 + 65535) plus a 64 KiB read.
    explicit raw_reader(bool naive_mode) : naive(naive_mode), buf(std::size_t{192} << 10) {}
    bool naive;
    std::vector<std::uint8_t> buf;
    std::size_t start = 0, end = 0;

    std::size_t complete_frame() const {  // size of the whole frame at `start`, 0 when incomplete
        const std::size_t have = end - start;
        if (have < raw_header) return 0;
        const std::uint8_t* h = buf.data() + start;
        const std::size_t size = raw_header + get16(h + 1) + get16(h + 3);
        return have >= size ? size : 0;
    }
    /// Whether another whole frame is already buffered (a read would not block).
    bool has_frame() const { return !naive && complete_frame() > 0; }

    /// The next frame; empty on end of stream or error.
    asio::awaitable<std::span<std::uint8_t>> next(tcp::socket* sock) {
        if (naive) {
            auto [ec, n] = co_await asio::async_read(*sock, asio::buffer(buf.data(), raw_header), nothrow_awaitable);
            if (ec) co_return std::span<std::uint8_t>();
            const std::size_t rest = std::size_t{get16(buf.data() + 1)} + get16(buf.data() + 3);
            auto [ec2, n2] = co_await asio::async_read(*sock, asio::buffer(buf.data() + raw_header, rest), nothrow_awaitable);
            if (ec2) co_return std::span<std::uint8_t>();
            (void)n, (void)n2;
            co_return std::span<std::uint8_t>(buf.data(), raw_header + rest);
        }
        for (;;) {
            if (const std::size_t size = complete_frame()) {
                std::span<std::uint8_t> frame(buf.data() + start, size);
                start += size;
                co_return frame;
            }
            if (start == end) {
                start = end = 0;
            } else if (buf.size() - end < (std::size_t{64} << 10)) {  // keep room for a max-size read
                std::memmove(buf.data(), buf.data() + start, end - start);
                end -= start;
                start = 0;
            }
            auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf.data() + end, buf.size() - end), nothrow_awaitable);
            if (ec || n == 0) co_return std::span<std::uint8_t>();
            end += n;
        }
    }
};

/// Raw server, one connection: read a frame (header, then auth+body), turn it into
/// the reply in place (type byte := RESPOND_URI; same auth and body, so the CRC
/// still holds) and write it; nothing else is checked. Buffered mode writes the
/// replies to all frames of one read with one gathered write (as netaio does).
asio::awaitable<void> raw_server_session(tcp::socket sock, bool naive) {
    raw_reader reader(naive);
    std::vector<asio::const_buffer> replies;
    replies.reserve(1024);
    for (;;) {
        std::span<std::uint8_t> frame = co_await reader.next(&sock);
        if (frame.empty()) co_return;
        frame[0] = type_respond;
        replies.emplace_back(frame.data(), frame.size());
        if (reader.has_frame()) continue;  // gather: the spans stay valid until the next read
        // One reply: pass the buffer itself (async_write copies a std::vector buffer
        // sequence into its operation: a heap allocation per write).
        std::error_code ec;
        if (replies.size() == 1) {
            auto [ec1, n1] = co_await asio::async_write(sock, replies.front(), nothrow_awaitable);
            ec = ec1;
            (void)n1;
        } else {
            auto [ec2, n2] = co_await asio::async_write(sock, replies, nothrow_awaitable);
            ec = ec2;
            (void)n2;
        }
        replies.clear();
        if (ec) co_return;
    }
}

asio::awaitable<void> raw_accept_loop(tcp::acceptor* acceptor, bool naive) {
    for (;;) {
        auto [ec, sock] = co_await acceptor->async_accept(nothrow_awaitable);
        if (ec) co_return;
        std::error_code ignored;
        sock.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(acceptor->get_executor(), raw_server_session(std::move(sock), naive), asio::detached);
    }
}

struct raw_server {
    raw_server(asio::io_context& io, bool naive) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        asio::co_spawn(io, raw_accept_loop(&acceptor, naive), asio::detached);
    }
    std::uint16_t port() const { return acceptor.local_endpoint().port(); }
    void close() {
        std::error_code ignored;
        acceptor.close(ignored);
    }
    tcp::acceptor acceptor;
};

asio::awaitable<tcp::socket> raw_connect(std::uint16_t port) {
    tcp::socket sock(co_await asio::this_coro::executor);
    auto [ec] = co_await sock.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), nothrow_awaitable);
    if (ec) throw std::system_error(ec, "raw connect");
    sock.set_option(tcp::no_delay(true));
    co_return sock;
}

/// Raw ping-pong on its own socket: write request, read reply, compare.
asio::awaitable<void> raw_pingpong_worker(std::shared_ptr<tcp::socket> sock, run_state* st, std::size_t size,
                                          std::uint32_t id, bool naive) {
    raw_frame req(size, id);
    raw_reader reader(naive);
    for (std::uint32_t seq = 0; !st->stop; ++seq) {
        req.build(id, seq);
        auto [ec, n] = co_await asio::async_write(*sock, asio::buffer(req.frame), nothrow_awaitable);
        (void)n;
        if (ec) throw std::system_error(ec, "raw write");
        std::span<std::uint8_t> reply = co_await reader.next(sock.get());
        if (reply.empty()) throw std::runtime_error("raw: connection lost");
        if (!req.matches(reply.data(), reply.size())) throw std::runtime_error("raw: wrong reply content");
        note_completion(st);
    }
}

/// Raw pipelining on one socket: a write queue with one gathered write in flight,
/// a reader completing waiting requesters in FIFO order.
struct raw_slot {
    explicit raw_slot(const asio::any_io_executor& ex) : wake(ex, clock_type::time_point::max()) {}
    asio::steady_timer wake;
    std::vector<std::uint8_t> reply;
    bool replied = false;
};

struct raw_pipe {
    explicit raw_pipe(tcp::socket s) : sock(std::move(s)), writer_wake(sock.get_executor(), clock_type::time_point::max()) {}
    tcp::socket sock;
    std::vector<std::uint8_t> pending;  // frames queued while a write is in flight
    std::vector<std::uint8_t> writing;
    bool writer_idle = false;
    asio::steady_timer writer_wake;
    std::deque<raw_slot*> waiting;  // FIFO of requesters
    bool closed = false;

    void send(const std::vector<std::uint8_t>& frame, raw_slot* slot) {
        pending.insert(pending.end(), frame.begin(), frame.end());
        waiting.push_back(slot);
        if (writer_idle) writer_wake.cancel();
    }
    void fail() {
        closed = true;
        for (raw_slot* s : waiting) s->wake.cancel();
        waiting.clear();
        writer_wake.cancel();
    }
};

asio::awaitable<void> raw_pipe_writer(std::shared_ptr<raw_pipe> pipe) {
    while (!pipe->closed) {
        if (pipe->pending.empty()) {
            pipe->writer_idle = true;
            co_await pipe->writer_wake.async_wait(nothrow_awaitable);
            pipe->writer_idle = false;
            continue;
        }
        std::swap(pipe->pending, pipe->writing);
        auto [ec, n] = co_await asio::async_write(pipe->sock, asio::buffer(pipe->writing), nothrow_awaitable);
        (void)n;
        pipe->writing.clear();
        if (ec) {
            pipe->fail();
            co_return;
        }
    }
}

asio::awaitable<void> raw_pipe_reader(std::shared_ptr<raw_pipe> pipe, bool naive) {
    raw_reader reader(naive);
    while (!pipe->closed) {
        std::span<std::uint8_t> frame = co_await reader.next(&pipe->sock);
        if (frame.empty()) break;
        if (pipe->waiting.empty()) continue;  // unsolicited: ignore
        raw_slot* slot = pipe->waiting.front();
        pipe->waiting.pop_front();
        slot->reply.assign(frame.begin(), frame.end());
        slot->replied = true;
        slot->wake.cancel();
    }
    pipe->fail();
}

asio::awaitable<void> raw_pipelined_worker(std::shared_ptr<raw_pipe> pipe, run_state* st, std::size_t size,
                                           std::uint32_t id) {
    raw_frame req(size, id);
    raw_slot slot(co_await asio::this_coro::executor);
    slot.reply.reserve(req.frame.size());
    for (std::uint32_t seq = 0; !st->stop; ++seq) {
        if (pipe->closed) throw std::runtime_error("raw: connection lost");
        req.build(id, seq);
        slot.replied = false;
        pipe->send(req.frame, &slot);
        co_await slot.wake.async_wait(nothrow_awaitable);
        if (!slot.replied) throw std::runtime_error("raw: connection lost");
        if (!req.matches(slot.reply.data(), slot.reply.size())) throw std::runtime_error("raw: wrong reply content");
        note_completion(st);
    }
}

/// The raw client side of one run.
asio::awaitable<void> raw_client_main(cell c, std::uint16_t port, run_params p, run_output* out) {
    auto ex = co_await asio::this_coro::executor;
    run_state st(ex);
    st.alloc_mode = p.alloc_mode;
    st.alloc_warmup = p.alloc_warmup;
    st.alloc_rounds = p.alloc_rounds;
    std::vector<std::shared_ptr<tcp::socket>> sockets;
    std::shared_ptr<raw_pipe> pipe;
    if (c.sc == scenario::pipelined) {
        tcp::socket s = co_await raw_connect(port);
        pipe = std::make_shared<raw_pipe>(std::move(s));
        asio::co_spawn(ex, raw_pipe_writer(pipe), asio::detached);
        asio::co_spawn(ex, raw_pipe_reader(pipe, p.raw_naive), asio::detached);
        for (int i = 0; i < pipeline_depth; ++i) {
            ++st.running;
            asio::co_spawn(ex, raw_pipelined_worker(pipe, &st, c.size, static_cast<std::uint32_t>(i)), worker_done{&st});
        }
    } else {
        const int n = c.sc == scenario::connections ? connection_count : 1;
        for (int i = 0; i < n; ++i) {
            tcp::socket s = co_await raw_connect(port);
            sockets.push_back(std::make_shared<tcp::socket>(std::move(s)));
        }
        for (int i = 0; i < n; ++i) {
            ++st.running;
            asio::co_spawn(ex, raw_pingpong_worker(sockets[static_cast<std::size_t>(i)], &st, c.size, static_cast<std::uint32_t>(i), p.raw_naive),
                           worker_done{&st});
        }
    }
    co_await measure(&st, p, out);
    std::error_code ignored;
    for (auto& s : sockets) s->close(ignored);
    if (pipe) {
        pipe->fail();
        pipe->sock.close(ignored);
    }
}

// ========================================================================= netaio

const char* const bench_secret = "netaio-bench-secret-0123456789";
const char* const bench_key = "netaio-bench-cipher-key-0123456789";

netaio::any_auth_plugin make_auth_plugin() {
    netaio::hmac_auth_options o;
    o.secret = netaio::to_bytes(bench_secret);
    return netaio::HMACAuthPlugin(std::move(o));
}
netaio::any_cipher_plugin make_cipher_plugin() {
    netaio::sha256_stream_cipher_options o;
    o.key = netaio::to_bytes(bench_key);
    return netaio::Sha256StreamCipherPlugin(std::move(o));
}

netaio::tcp_server_options netaio_server_options(bool plugins) {
    netaio::tcp_server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    if (plugins) {
        o.auth_plugin = make_auth_plugin();
        o.cipher_plugin = make_cipher_plugin();
    }
    return o;
}

netaio::tcp_client_options netaio_client_options(std::uint16_t port, bool plugins) {
    netaio::tcp_client_options o;
    o.host = "127.0.0.1";
    o.port = port;
    if (plugins) {
        o.auth_plugin = make_auth_plugin();
        o.cipher_plugin = make_cipher_plugin();
    }
    return o;
}

// tag::in_place_handler[]
// The allocation-free forms (default): the handler turns the request into its reply,
// the client reuses one reply Message.
netaio::Message echo_handler(netaio::Message& m) { return netaio::reply_in_place(m, netaio::MessageType::RESPOND_URI); }
// end::in_place_handler[]
// The convenience forms (--convenience): a new reply, request() returning a new Message.
netaio::Message copying_echo_handler(const netaio::Message& m) { return netaio::make_respond_uri_msg(m.body.content, m.body.uri); }

void check_reply(const netaio::Message& reply, const netaio::bytes& content) {
    if (reply.type() != netaio::MessageType::RESPOND_URI || reply.body.content != content)
        throw std::runtime_error("netaio: wrong reply (type " + std::to_string(static_cast<int>(reply.type())) + ")");
}

asio::awaitable<void> netaio_worker(netaio::TCPClient* client, run_state* st, std::size_t size, std::uint32_t id,
                                    bool convenience_api) {
    netaio::bytes content = make_content(size, id);
    netaio::Message reply;
    for (std::uint32_t seq = 0; !st->stop; ++seq) {
        stamp(content.data(), content.size(), id, seq);
        if (convenience_api) {
            netaio::Message fresh = co_await client->request("echo", content);
            check_reply(fresh, content);
        } else {
            // tag::request_into[]
            co_await client->request_into(reply, "echo", content);  // reply's buffers go out and come back
            // end::request_into[]
            check_reply(reply, content);
        }
        note_completion(st);
    }
}

/// The netaio client side of one run.
asio::awaitable<void> netaio_client_main(cell c, std::uint16_t port, run_params p, run_output* out) {
    auto ex = co_await asio::this_coro::executor;
    run_state st(ex);
    st.alloc_mode = p.alloc_mode;
    st.alloc_warmup = p.alloc_warmup;
    st.alloc_rounds = p.alloc_rounds;
    std::vector<std::unique_ptr<netaio::TCPClient>> clients;
    const int n_clients = c.sc == scenario::connections ? connection_count : 1;
    for (int i = 0; i < n_clients; ++i) {
        clients.push_back(std::make_unique<netaio::TCPClient>(ex, netaio_client_options(port, c.plugins)));
        co_await clients.back()->connect();
    }
    const int n_workers = c.sc == scenario::pingpong ? 1 : 64;
    for (int i = 0; i < n_workers; ++i) {
        netaio::TCPClient* client = clients[c.sc == scenario::connections ? static_cast<std::size_t>(i) : 0].get();
        ++st.running;
        asio::co_spawn(ex, netaio_worker(client, &st, c.size, static_cast<std::uint32_t>(i), p.convenience_api),
                       worker_done{&st});
    }
    co_await measure(&st, p, out);
    for (auto& cl : clients) cl->close_all();
}

// ======================================================================== one run

run_output run_once(impl which, const cell& c, const run_params& p) {
    run_output out;
    asio::io_context client_io(1);
    std::optional<asio::io_context> server_io_storage;
    if (!p.single_thread) server_io_storage.emplace(1);
    asio::io_context& server_io = p.single_thread ? client_io : *server_io_storage;

    std::optional<raw_server> raw;
    std::optional<netaio::TCPServer> server;
    std::uint16_t port = 0;
    if (which == impl::raw) {
        raw.emplace(server_io, p.raw_naive);
        port = raw->port();
    } else {
        server.emplace(server_io.get_executor(), netaio_server_options(c.plugins));
        if (p.convenience_api)
            server->on({netaio::MessageType::REQUEST_URI, "echo"}, copying_echo_handler);
        else
            server->on({netaio::MessageType::REQUEST_URI, "echo"}, echo_handler);
        server->start();
        port = server->local_port();
    }

    std::thread server_thread;
    if (!p.single_thread) {
        server_thread = std::thread([&server_io] {
            auto guard = asio::make_work_guard(server_io);
            server_io.run();
        });
    }

    auto done = [&client_io](std::exception_ptr e) {
        if (e) record_failure(bench::describe(e));
        client_io.stop();
    };
    if (which == impl::raw)
        asio::co_spawn(client_io, raw_client_main(c, port, p, &out), done);
    else
        asio::co_spawn(client_io, netaio_client_main(c, port, p, &out), done);
    client_io.run();

    if (!p.single_thread) {
        asio::post(server_io, [&server_io, &raw, &server] {
            if (raw) raw->close();
            if (server) server->close();
            server_io.stop();
        });
        server_thread.join();
    }
    server.reset();
    raw.reset();
    return out;
}

// ==================================================================== main program

struct options {
    double seconds = 1.0;
    int repeat = 3;
    bool quick = false;
    bool single_thread = false;
    bool convenience_api = false;
    bool raw_naive = false;
    bool verbose = false;
    bool run_table = true;
    bool run_alloc = true;
    bool run_raw = true;
    bool run_netaio = true;
    std::vector<scenario> scenarios{scenario::pingpong, scenario::pipelined, scenario::connections};
    std::vector<std::size_t> sizes{32, 1024, 16384};
    std::vector<bool> plugin_modes{false, true};
};

void usage() {
    std::printf(
        "usage: netaio_bench [options]\n"
        "  --seconds S       measured duration of one cell run (default 1)\n"
        "  --repeat N        runs per cell; the median is reported (default 3)\n"
        "  --quick           smoke test: 0.2 s cells, 1 repeat, 1000 counted allocation round trips\n"
        "  --single-thread   server and client on one io_context (default: one thread each)\n"
        "  --raw-naive       raw baseline reads exactly 9 bytes then auth+body per frame and\n"
        "                    writes each reply alone (default: buffered reads, gathered replies)\n"
        "  --convenience     netaio uses request() and a handler building a new reply\n"
        "                    (default: request_into() and reply_in_place(), allocation-free)\n"
        "  --scenario NAME   pingpong | pipelined | connections (repeatable; default all)\n"
        "  --size BYTES      content size (repeatable; default 32, 1024, 16384)\n"
        "  --plugins on|off  only this plugin mode (default both)\n"
        "  --no-raw          skip the raw baseline    --no-netaio  skip netaio\n"
        "  --no-table        skip the throughput table  --no-alloc  skip the allocation count\n"
        "  --verbose         print every run\n");
}



bool parse(int argc, char** argv, options& o) {
    bool scen_given = false, size_given = false;
    bench::arguments args(argc, argv);
    while (const char* next = args.next()) {
        const std::string a = next;
        if (a == "--seconds") {
            o.seconds = args.seconds("--seconds");
        } else if (a == "--repeat") {
            o.repeat = args.count("--repeat");
        } else if (a == "--quick") {
            o.quick = true;
        } else if (a == "--single-thread") {
            o.single_thread = true;
        } else if (a == "--raw-naive") {
            o.raw_naive = true;
        } else if (a == "--convenience") {
            o.convenience_api = true;
        } else if (a == "--verbose" || a == "-v") {
            o.verbose = true;
        } else if (a == "--scenario") {
            if (!scen_given) o.scenarios.clear();
            scen_given = true;
            const std::string s = args.value("--scenario");
            if (s == "pingpong") o.scenarios.push_back(scenario::pingpong);
            else if (s == "pipelined") o.scenarios.push_back(scenario::pipelined);
            else if (s == "connections") o.scenarios.push_back(scenario::connections);
            else throw std::invalid_argument("unknown scenario " + s);
        } else if (a == "--size") {
            if (!size_given) o.sizes.clear();
            size_given = true;
            o.sizes.push_back(args.content_size("--size", 8));
        } else if (a == "--plugins") {
            const std::string s = args.value("--plugins");
            if (s == "on") o.plugin_modes = {true};
            else if (s == "off") o.plugin_modes = {false};
            else throw std::invalid_argument("--plugins takes on or off");
        } else if (a == "--no-raw") {
            o.run_raw = false;
        } else if (a == "--no-netaio") {
            o.run_netaio = false;
        } else if (a == "--no-table") {
            o.run_table = false;
        } else if (a == "--no-alloc") {
            o.run_alloc = false;
        } else if (a == "--help" || a == "-h") {
            usage();
            return false;
        } else {
            throw std::invalid_argument("unknown option " + a);
        }
    }
    if (o.quick) {
        o.seconds = 0.2;
        o.repeat = 1;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        if (!parse(argc, argv, o)) return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "netaio_bench: %s\n", e.what());
        usage();
        return 2;
    }

    run_params p;
    p.seconds = o.seconds;
    p.warmup_seconds = std::clamp(o.seconds * 0.2, 0.05, 0.25);
    p.single_thread = o.single_thread;
    p.raw_naive = o.raw_naive;
    p.convenience_api = o.convenience_api;

    std::printf("netaio_bench - netaio %s vs raw Asio %d.%d.%d, same framing, loopback 127.0.0.1\n",
                NETAIO_VERSION_STRING, ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000, ASIO_VERSION % 100);
    if (o.single_thread)
        std::printf("threads: server and client in one process on ONE io_context, one thread\n");
    else
        std::printf("threads: server on its own thread + io_context, client on another thread + io_context (raw and netaio alike)\n");
    if (o.raw_naive)
        std::printf("raw baseline: NAIVE reads (async_read 9-byte header, then auth+body) and one write per reply\n");
    else
        std::printf("raw baseline: buffered reads (read_some, frames parsed out: header, then auth+body), replies of one read\n"
                    "              gathered into one write; client pipelining through a write queue + FIFO reader\n");
    std::printf("cells: %.2f s measured after %.2f s warm-up, %d run(s) per cell, MEDIAN reported; raw and netaio runs paired and interleaved\n",
                p.seconds, p.warmup_seconds, o.repeat);
#ifdef NDEBUG
    std::printf("build: NDEBUG (optimised)\n");
#else
    std::printf("build: WARNING - assertions on (not a Release build); figures are not representative\n");
#endif
    std::printf("machine: %u hardware thread(s)\n", std::thread::hardware_concurrency());
    std::printf("plugins on = netaio outer HMACAuthPlugin(secret) + Sha256StreamCipherPlugin(key) on both sides;\n"
                "             its raw column repeats the plugins-off raw figure (the raw baseline has no plugins)\n\n");
    std::fflush(stdout);

    if (o.run_table) {
        struct row {
            cell c;
            std::vector<double> raw, net;          // req/s per run
            std::vector<double> raw_cpu, net_cpu;  // CPU us per round trip per run
        };
        std::vector<row> rows;
        const bool want_off = std::find(o.plugin_modes.begin(), o.plugin_modes.end(), false) != o.plugin_modes.end();
        const bool want_on = std::find(o.plugin_modes.begin(), o.plugin_modes.end(), true) != o.plugin_modes.end();
        auto show_run = [&](const cell& c, const char* what, const run_output& r) {
            if (!o.verbose) return;
            std::printf("  run %-22s %-7s %-12s %10.0f req/s %8.2f cpu us/rt\n", scenario_name(c.sc), bench::size_name(c.size).c_str(),
                        what, r.rate, r.cpu_us);
            std::fflush(stdout);
        };
        for (scenario sc : o.scenarios) {
            for (std::size_t size : o.sizes) {
                row off{{sc, size, false}, {}, {}, {}, {}};
                row on{{sc, size, true}, {}, {}, {}, {}};
                for (int r = 0; r < o.repeat; ++r) {
                    // Interleaved, each repeat a pair: raw and netaio (plugins off, then on).
                    // Raw goes first on even repeats and last on odd ones, so that neither
                    // side is always the one that runs first.
                    auto run_raw = [&] {
                        if (!o.run_raw) return;
                        const run_output v = run_once(impl::raw, off.c, p);
                        off.raw.push_back(v.rate);
                        off.raw_cpu.push_back(v.cpu_us);
                        on.raw = off.raw;
                        on.raw_cpu = off.raw_cpu;
                        show_run(off.c, "raw", v);
                    };
                    const bool raw_first = r % 2 == 0;
                    if (raw_first) run_raw();
                    if (o.run_netaio && want_off) {
                        const run_output v = run_once(impl::netaio, off.c, p);
                        off.net.push_back(v.rate);
                        off.net_cpu.push_back(v.cpu_us);
                        show_run(off.c, "netaio off", v);
                    }
                    if (o.run_netaio && want_on) {
                        const run_output v = run_once(impl::netaio, on.c, p);
                        on.net.push_back(v.rate);
                        on.net_cpu.push_back(v.cpu_us);
                        show_run(on.c, "netaio on", v);
                    }
                    if (!raw_first) run_raw();
                }
                if (want_off) rows.push_back(std::move(off));
                if (want_on) rows.push_back(std::move(on));
                std::fprintf(stderr, ".");
            }
        }
        std::fprintf(stderr, "\n");

        std::printf("%-22s %7s %-8s %11s %11s %6s | %8s %8s %6s | %6s  %s\n", "scenario", "size", "plugins", "raw req/s",
                    "netaio", "ratio", "raw cpu", "netaio", "ratio", "spread", "goal (ratio)");
        std::printf("%-22s %7s %-8s %11s %11s %6s | %8s %8s %6s | %6s\n", "", "", "", "", "req/s", "", "us/rt", "us/rt", "", "");
        std::printf("%s\n", std::string(126, '-').c_str());
        for (const row& r : rows) {
            char raw_s[32] = "-", net_s[32] = "-", ratio_s[32] = "-", goal_s[48] = "";
            char rawc_s[32] = "-", netc_s[32] = "-", cratio_s[32] = "-", spread_s[16] = "-";
            const double raw_m = bench::median(r.raw), net_m = bench::median(r.net);
            const double rawc_m = bench::median(r.raw_cpu), netc_m = bench::median(r.net_cpu);
            const char* star = r.c.plugins ? "*" : "";
            if (!r.raw.empty()) {
                std::snprintf(raw_s, sizeof raw_s, "%.0f%s", raw_m, star);
                std::snprintf(rawc_s, sizeof rawc_s, "%.2f%s", rawc_m, star);
            }
            if (!r.net.empty()) {
                std::snprintf(net_s, sizeof net_s, "%.0f", net_m);
                std::snprintf(netc_s, sizeof netc_s, "%.2f", netc_m);
            }
            if (r.raw.size() == r.net.size() && !r.raw.empty() && raw_m > 0) {
                // The median of the per-repeat ratios: each pair of runs shares the
                // machine's state of the moment, so drifting load cancels out in it.
                std::vector<double> ratios, cpu_ratios;
                for (std::size_t i = 0; i < r.raw.size(); ++i) {
                    if (r.raw[i] > 0) ratios.push_back(r.net[i] / r.raw[i]);
                    if (r.net_cpu[i] > 0) cpu_ratios.push_back(r.raw_cpu[i] / r.net_cpu[i]);
                }
                const double ratio = bench::median(ratios);
                std::snprintf(ratio_s, sizeof ratio_s, "%.2f", ratio);
                if (!cpu_ratios.empty()) std::snprintf(cratio_s, sizeof cratio_s, "%.2f", bench::median(cpu_ratios));
                if (!r.c.plugins)
                    std::snprintf(goal_s, sizeof goal_s, ">=%.2f %s", scenario_goal(r.c.sc),
                                  ratio >= scenario_goal(r.c.sc) ? "met" : "BELOW");
            }
            if (r.raw.size() > 1 || r.net.size() > 1) {
                std::snprintf(spread_s, sizeof spread_s, "%.0f%%", 100 * std::max(bench::spread(r.raw), bench::spread(r.net)));
            }
            std::printf("%-22s %7s %-8s %11s %11s %6s | %8s %8s %6s | %6s  %s\n", scenario_name(r.c.sc),
                        bench::size_name(r.c.size).c_str(), r.c.plugins ? "hmac+enc" : "off", raw_s, net_s, ratio_s, rawc_s, netc_s,
                        cratio_s, spread_s, goal_s);
        }
        std::printf(
            "req/s ratio = median over the repeats of netaio / raw, each repeat a raw run and a netaio run back to\n"
            "back (raw first on even repeats, last on odd ones); the req/s and us/rt columns are medians.\n"
            "cpu us/rt = process CPU time (user+system, server and client\n"
            "threads) per round trip; cpu ratio = raw / netaio (median per repeat), so 1.00 means the same CPU cost, below 1 netaio\n"
            "costs more; it is less sensitive to other load on the machine than req/s.\n"
            "* the raw baseline has no plugins: same figures as the plugins-off row.\n"
            "spread = (max - min) / median of the req/s repeats, the larger of raw and netaio.\n"
            "goal = the req/s ratio targets for plugins-off rows: >= 0.90 ping-pong and 64 conns, >= 0.75 pipelined.\n\n");
        std::fflush(stdout);
    }

    if (o.run_alloc) {
        run_params ap = p;
        ap.alloc_mode = true;
        if (o.quick) {  // the smoke test: fewer counted round trips (16 KiB with plugins is slow)
            ap.alloc_warmup = 200;
            ap.alloc_rounds = 1000;
        }
        std::printf("heap allocations per round trip, warm (ping-pong, 1 conn, %llu round trips after %llu warm-up;\n"
                    "server + client together; counts C++ operator new only, not malloc inside zlib/libsodium)\n",
                    static_cast<unsigned long long>(ap.alloc_rounds), static_cast<unsigned long long>(ap.alloc_warmup));
        std::printf("%7s %-18s %14s %14s\n", "size", "side", "allocs/rt", "bytes/rt");
        for (std::size_t size : o.sizes) {
            struct variant {
                impl which;
                bool plugins;
                bool convenience_api;
                const char* name;
            };
            std::vector<variant> variants;
            if (o.run_raw) variants.push_back({impl::raw, false, false, "raw"});
            if (o.run_netaio) {
                for (bool pl : o.plugin_modes) variants.push_back({impl::netaio, pl, false, pl ? "netaio hmac+enc" : "netaio"});
                variants.push_back({impl::netaio, false, true, "netaio convenience"});
            }
            for (const variant& v : variants) {
                run_params vp = ap;
                vp.convenience_api = v.convenience_api;
                const run_output r = run_once(v.which, cell{scenario::pingpong, size, v.plugins}, vp);
                const double n = static_cast<double>(std::max<std::uint64_t>(r.rounds, 1));
                std::printf("%7s %-18s %14.2f %14.0f\n", bench::size_name(size).c_str(), v.name, static_cast<double>(r.alloc_calls) / n,
                            static_cast<double>(r.alloc_bytes) / n);
                // The promise of request_into() + reply_in_place(): nothing per message once warm.
                if (v.which == impl::netaio && !v.plugins && !v.convenience_api && r.alloc_calls != 0)
                    record_failure("the allocation-free forms allocated " + std::to_string(r.alloc_calls) + " times in " +
                                   std::to_string(r.rounds) + " round trips (" + bench::size_name(size) + ")");
            }
        }
        std::printf("\n");
    }

    if (g_failed) {
        std::printf("FAILED: %s\n", g_first_failure.c_str());
        return 1;
    }
    std::printf("all %llu measured round trips verified (content echoed intact)\n", static_cast<unsigned long long>(g_verified));
    return 0;
}
