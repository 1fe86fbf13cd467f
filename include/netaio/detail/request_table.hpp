// netaio/detail/request_table.hpp - requests waiting for their reply (TCP client, UDP node).
//
// netaio matches a reply to a request by (server, uri) and by type (BEHAVIOUR B59,
// B89). Several requests for the same key may wait at once; replies complete them
// oldest first. The waiter parks on its own timer: a reply or a failure cancels
// the timer, otherwise it expires at the request's timeout.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/errors.hpp>
#include <netaio/handler.hpp>
#include <netaio/message.hpp>
#include <netaio/version.hpp>

#include <asio/error.hpp>

#include <algorithm>
#include <bitset>
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
/// the per-request state (timer included) is allocated once, not per request.
struct pending_request {
    explicit pending_request(const asio::any_io_executor& ex) : timer(ex) {}

    asio::steady_timer timer;      ///< cancelled on reply or failure, expires on timeout
    std::bitset<256> accepted;     ///< reply types that complete this request
    handler_plugins plugins;       ///< the request's inner layer, applied to the reply once
    std::optional<Message> reply;
    std::error_code failure;
    bool cancelled = false;  ///< set by wait(): the wait was cancelled, not timed out
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
        cancelled = false;
    }
    bool accepts(MessageType t) const { return accepted.test(static_cast<std::uint8_t>(t)); }
    void complete(Message m) {
        reply = std::move(m);
        timer.cancel();
    }
    void fail(std::error_code ec) {
        failure = ec;
        timer.cancel();
    }
    /// Wait for the reply; nullopt means timed out (failures throw netaio::error).
    /// Cancelling the wait (e.g. the request lost an `operator||` race) throws
    /// operation_aborted: the caller removes the request from its table first.
    asio::awaitable<std::optional<Message>> wait(std::chrono::milliseconds timeout) {
        timer.expires_after(timeout);
        auto [ec] = co_await timer.async_wait(use_nothrow);
        if (reply) co_return std::move(reply);
        if (failure) throw error(failure);
        if (ec == asio::error::operation_aborted) cancelled = true;
        co_return std::nullopt;
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

    explicit waiter_pool(asio::any_io_executor ex) : executor_(std::move(ex)) {}

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
    asio::any_io_executor executor_;
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

/// The TimeoutError text of netaio's request() (BEHAVIOUR B64/B91).
inline std::string request_timeout_text(const bytes& uri, std::chrono::milliseconds timeout, const std::string& where = {}) {
    std::string text = "Request for URI ";
    for (std::uint8_t c : uri) text.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    if (!where.empty()) text += " @ " + where;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", static_cast<double>(timeout.count()) / 1000.0);
    return text + " timed out after " + seconds + "s";
}

}  // namespace detail
NETAIO_END_NAMESPACE
