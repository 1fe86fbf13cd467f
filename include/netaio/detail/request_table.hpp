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

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
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

struct pending_request {
    pending_request(const asio::any_io_executor& ex, std::vector<MessageType> types, handler_plugins p)
        : timer(ex), accepted(std::move(types)), plugins(std::move(p)) {}

    asio::steady_timer timer;      ///< cancelled on reply or failure, expires on timeout
    std::vector<MessageType> accepted;
    handler_plugins plugins;       ///< the request's inner layer, applied to the reply once
    std::optional<Message> reply;
    std::error_code failure;

    bool accepts(MessageType t) const { return std::find(accepted.begin(), accepted.end(), t) != accepted.end(); }
    void complete(Message m) {
        reply = std::move(m);
        timer.cancel();
    }
    void fail(std::error_code ec) {
        failure = ec;
        timer.cancel();
    }
    /// Wait for the reply; nullopt means timed out (failures throw netaio::error).
    asio::awaitable<std::optional<Message>> wait(std::chrono::milliseconds timeout) {
        timer.expires_after(timeout);
        co_await timer.async_wait(use_nothrow);
        if (reply) co_return std::move(reply);
        if (failure) throw error(failure);
        co_return std::nullopt;
    }
};

/// Pending requests by key, FIFO per key.
template <class Key>
class request_table {
public:
    using waiter = std::shared_ptr<pending_request>;

    void add(const Key& key, waiter w) {
        pending_[key].push_back(std::move(w));
        ++count_;
    }
    void remove(const Key& key, const waiter& w) {
        auto it = pending_.find(key);
        if (it == pending_.end()) return;
        auto& q = it->second;
        if (auto pos = std::find(q.begin(), q.end(), w); pos != q.end()) {
            q.erase(pos);
            --count_;
        }
        if (q.empty()) pending_.erase(it);
    }
    /// The oldest request for `key` that accepts `type`, removed from the table.
    waiter take(const Key& key, MessageType type) {
        auto it = pending_.find(key);
        if (it == pending_.end()) return nullptr;
        auto& q = it->second;
        for (auto pos = q.begin(); pos != q.end(); ++pos) {
            if ((*pos)->accepts(type)) {
                waiter w = *pos;
                q.erase(pos);
                --count_;
                if (q.empty()) pending_.erase(it);
                return w;
            }
        }
        return nullptr;
    }
    /// Fail every waiter at once (the connection closed, the node stopped).
    void fail_all(errc reason) {
        auto pending = std::move(pending_);
        pending_.clear();
        count_ = 0;
        for (auto& [key, q] : pending)
            for (auto& w : q) w->fail(make_error_code(reason));
    }
    std::size_t size() const noexcept { return count_; }

private:
    std::map<Key, std::deque<waiter>> pending_;
    std::size_t count_ = 0;
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
