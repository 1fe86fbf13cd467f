// netaio/detail/request_table.hpp - requests waiting for their reply (TCP client, UDP node).
//
// netaio matches a reply to a request by (server, uri) and by type (BEHAVIOUR B59,
// B89). Several requests for the same key may wait at once; replies complete them
// oldest first. The requester parks its coroutine in its pending_request; the
// node's one deadline alarm (deadline_alarm) times out those left unanswered.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/detail/parked_handler.hpp>
#include <netaio/errors.hpp>
#include <netaio/handler.hpp>
#include <netaio/message.hpp>
#include <netaio/version.hpp>

#include <asio/error.hpp>

#include <algorithm>
#include <bitset>
#include <exception>
#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// Reply types a request of `request_type` accepts (BEHAVIOUR B59).
inline std::vector<MessageType> response_types_for(MessageType request_type) {
    std::vector<MessageType> types{MessageType::AUTH_ERROR, MessageType::ERROR,
                                   request_type == MessageType::REQUEST_URI ? MessageType::RESPOND_URI : MessageType::OK};
    if (request_type != MessageType::CREATE_URI) types.push_back(MessageType::NOT_FOUND);
    return types;
}

namespace detail {

/// response_types_for() as a bit set, built without allocating.
inline std::bitset<256> response_type_bits(MessageType request_type) {
    std::bitset<256> bits;
    bits.set(static_cast<std::uint8_t>(MessageType::AUTH_ERROR));
    bits.set(static_cast<std::uint8_t>(MessageType::ERROR));
    bits.set(static_cast<std::uint8_t>(request_type == MessageType::REQUEST_URI ? MessageType::RESPOND_URI : MessageType::OK));
    if (request_type != MessageType::CREATE_URI) bits.set(static_cast<std::uint8_t>(MessageType::NOT_FOUND));
    return bits;
}

/// One request waiting for its reply. Objects are recycled by waiter_pool, so
/// the per-request state is allocated once, not per request.
///
/// The requester parks its coroutine here (park()); a reply, a failure, the node's
/// deadline alarm (expire()) or a cancellation resumes it. A reply or a failure
/// resumes it inline, on the stack of whoever completes it (the reader), so what
/// the requester does next (typically: send its next request) happens before the
/// reader reads again. That caller takes the request out of the table first and
/// keeps its node alive; it need not keep the waiter: the parked requester does.
struct pending_request : std::enable_shared_from_this<pending_request> {
    /// `ex`: the node's executor, where requesters run; the node outlives its waiters
    /// while they are in use (every requester holds the node).
    explicit pending_request(const asio::any_io_executor& ex) : executor(ex) {}

    const asio::any_io_executor& executor;
    std::bitset<256> accepted;       ///< reply types that complete this request
    handler_plugins plugins;         ///< the request's inner layer, applied to the reply once
    std::chrono::steady_clock::time_point deadline;  ///< when the node's alarm times it out
    std::optional<Message> reply;
    std::error_code failure;
    parked_handler resume;  ///< the parked requester
    // The sent request's buffers, recycled: the reader takes the content and auth
    // fields in exchange for the reply's, the next request keeps its uri in spare_uri.
    bytes spare_content;
    bytes spare_uri;
    AuthFields spare_auth;

    /// Prepare for a new request (a recycled object).
    void reset(MessageType request_type, handler_plugins p) {
        accepted = response_type_bits(request_type);
        plugins = std::move(p);
        reply.reset();
        failure.clear();
    }
    bool accepts(MessageType t) const { return accepted.test(static_cast<std::uint8_t>(t)); }

    /// `co_await w->park(use_nothrow)`: wait until one of the calls below. Yields no
    /// error after complete() or fail() (see `reply`, `failure`), errc::timed_out
    /// after expire(), asio::error::operation_aborted when the wait was cancelled.
    template <class CompletionToken>
    auto park(CompletionToken&& token) {
        return asio::async_initiate<CompletionToken, void(std::error_code)>(
            [this](auto handler) { resume.park(std::move(handler), executor, this, &on_cancelled); }, token);
    }
    void complete(Message m) {
        reply = std::move(m);
        resume.complete({});
    }
    void fail(std::error_code ec) {
        failure = ec;
        resume.complete({});
    }
    void expire() { resume.complete(make_error_code(errc::timed_out)); }

private:
    /// Called from the cancellation signal's emit(): resuming inline there would
    /// clear the slot whose handler is running, so the wake-up is posted.
    static void on_cancelled(void* self) {
        auto w = static_cast<pending_request*>(self)->shared_from_this();
        asio::post(w->executor, [w] { w->resume.complete(make_error_code(asio::error::operation_aborted)); });
    }
};

/// A request's wait was cancelled by its caller (not timed out): raise what an Asio
/// operation raises when cancelled. Neither counted nor reported as a timeout.
[[noreturn]] inline void throw_request_cancelled() {
    throw std::system_error(make_error_code(asio::error::operation_aborted), "request cancelled");
}

/// Recycled pending_request objects (one pool per node; nodes are single-threaded).
class waiter_pool {
public:
    using waiter = std::shared_ptr<pending_request>;

    /// `ex` must outlive the pool (the node's own executor member).
    explicit waiter_pool(const asio::any_io_executor& ex) : executor_(ex) {}

    waiter acquire(MessageType request_type, handler_plugins plugins) {
        waiter w;
        if (!spare_.empty()) {
            w = std::move(spare_.back());
            spare_.pop_back();
        } else {
            w = std::make_shared<pending_request>(executor_);
        }
        w->reset(request_type, std::move(plugins));
        return w;
    }
    /// Take a waiter back once its request is over; kept only if nothing else holds it.
    void release(waiter w) {
        if (w.use_count() != 1 || spare_.size() >= max_spare) return;
        w->reply.reset();
        w->plugins = {};
        spare_.push_back(std::move(w));
    }

private:
    static constexpr std::size_t max_spare = 256;
    const asio::any_io_executor& executor_;
    std::vector<waiter> spare_;
};

/// Returns a waiter to its pool when the request's coroutine leaves its scope.
class waiter_lease {
public:
    waiter_lease(waiter_pool& pool, std::shared_ptr<pending_request> w) : pool_(pool), waiter_(std::move(w)) {}
    waiter_lease(const waiter_lease&) = delete;
    waiter_lease& operator=(const waiter_lease&) = delete;
    ~waiter_lease() { pool_.release(std::move(waiter_)); }
    const std::shared_ptr<pending_request>& get() const noexcept { return waiter_; }
    pending_request* operator->() const noexcept { return waiter_.get(); }

private:
    waiter_pool& pool_;
    std::shared_ptr<pending_request> waiter_;
};

/// Pending requests, FIFO per key. A flat list in arrival order: requests in flight
/// are few, and a vector keeps its capacity, so steady traffic allocates nothing
/// here (a map of queues allocated a node and a queue per request). Entries leave
/// by being emptied; the emptied prefix is skipped and reclaimed in bulk, so taking
/// the oldest request is O(1) rather than a shift of the whole list.
template <class Key>
class request_table {
public:
    using waiter = std::shared_ptr<pending_request>;

    /// Register `w` under `key` (moved in: the table owns the key while it waits).
    void add(Key key, waiter w) {
        pending_.emplace_back(std::move(key), std::move(w));
        ++live_;
    }
    /// Forget `w` (timed out, or its send failed); its key, if it was still waiting.
    std::optional<Key> remove(const waiter& w) {
        for (std::size_t i = head_; i < pending_.size(); ++i) {
            if (pending_[i].second == w) {
                std::optional<Key> key(std::move(pending_[i].first));
                vacate(i);
                return key;
            }
        }
        return std::nullopt;
    }
    /// The oldest request for `key` that accepts `type`, removed from the table;
    /// its key is moved into `*key_out` when given (the TCP client reuses it).
    waiter take(const Key& key, MessageType type, Key* key_out = nullptr) {
        for (std::size_t i = head_; i < pending_.size(); ++i) {
            entry& e = pending_[i];
            if (e.second && e.first == key && e.second->accepts(type)) {
                waiter w = e.second;
                if (key_out) *key_out = std::move(e.first);
                vacate(i);
                return w;
            }
        }
        return nullptr;
    }
    /// Fail every waiter at once (the connection closed, the node stopped).
    void fail_all(errc reason) {
        auto pending = std::move(pending_);
        pending_.clear();
        head_ = live_ = 0;
        for (auto& [key, w] : pending)
            if (w) w->fail(make_error_code(reason));
    }
    std::size_t size() const noexcept { return live_; }

    /// Forget every waiter, destroying its parked requester without resuming it
    /// (see abandon_on_shutdown).
    void abandon_all() noexcept {
        auto pending = std::move(pending_);
        pending_.clear();
        head_ = live_ = 0;
        for (auto& [key, w] : pending)
            if (w) w->resume.abandon();  // may destroy other waiters' owners, not this table
    }

    /// Append to `due` the waiters whose deadline is not after `now` (they stay in the
    /// table: each removes itself once resumed) and lower `next` to the earliest
    /// deadline of the others.
    void collect_due(std::chrono::steady_clock::time_point now, std::vector<waiter>& due,
                     std::optional<std::chrono::steady_clock::time_point>& next) const {
        for (std::size_t i = head_; i < pending_.size(); ++i) {
            const waiter& w = pending_[i].second;
            if (!w) continue;
            if (w->deadline <= now)
                due.push_back(w);
            else if (!next || w->deadline < *next)
                next = w->deadline;
        }
    }

private:
    using entry = std::pair<Key, waiter>;

    void vacate(std::size_t i) {
        pending_[i].second.reset();
        --live_;
        while (head_ < pending_.size() && !pending_[head_].second) ++head_;
        if (head_ == pending_.size()) {
            pending_.clear();  // keeps the capacity
            head_ = 0;
        } else if (head_ >= 64 && head_ * 2 >= pending_.size()) {
            pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }

    std::vector<entry> pending_;
    std::size_t head_ = 0;  // entries before head_ are all vacated
    std::size_t live_ = 0;
};

/// Destroys, without resuming them, the requests still parked in `table` when the
/// coroutine frame holding this guard (a connection's reader) is destroyed
/// unfinished, i.e. its io_context shut down. Asio then destroys the handlers of
/// its pending operations; a parked request is not one of them, and would never be
/// freed: its waiter owns the requester's handler, which owns the requester's
/// coroutine, which owns the waiter. On a normal exit the table is empty already
/// (the reader failed what was pending); during an exception it is left alone.
template <class Key>
class abandon_on_shutdown {
public:
    explicit abandon_on_shutdown(request_table<Key>& table) : table_(table), exceptions_(std::uncaught_exceptions()) {}
    abandon_on_shutdown(const abandon_on_shutdown&) = delete;
    abandon_on_shutdown& operator=(const abandon_on_shutdown&) = delete;
    ~abandon_on_shutdown() {
        if (std::uncaught_exceptions() == exceptions_) table_.abandon_all();
    }

private:
    request_table<Key>& table_;
    int exceptions_;
};

}  // namespace detail
NETAIO_END_NAMESPACE
