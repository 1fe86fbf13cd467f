// netaio/replay_cache.hpp - a bounded, expiring set of already-accepted messages.
//
// netaio 0.0.9 never checks for replays: a captured authenticated frame is
// accepted again forever. The C++ auth plugins remember what they accepted
// until the message would be rejected as stale anyway, and refuse duplicates.
//
// Rules (RELIABILITY.md §1, §3.4 C4/C7):
//   - insert only AFTER the message authenticated, so forged traffic cannot
//     fill the cache or evict genuine entries;
//   - bounded: when full (after dropping expired entries) refuse the message
//     (fail closed) rather than forget an entry that may still be replayed;
//   - an entry lives until its expiry time, i.e. as long as the freshness
//     window would still accept the message.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/version.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>

NETAIO_BEGIN_NAMESPACE

/// Thread-safe bounded replay cache keyed by opaque message identifiers.
///
/// Share one instance (through std::shared_ptr) between plugins or servers that
/// must not accept the same message twice.
class replay_cache {
public:
    /// Default capacity (RELIABILITY.md §5): 1,048,576 entries.
    static constexpr std::size_t default_capacity = std::size_t{1} << 20;

    explicit replay_cache(std::size_t capacity = default_capacity) : capacity_(capacity) {}

    replay_cache(const replay_cache&) = delete;
    replay_cache& operator=(const replay_cache&) = delete;

    /// Remember `id` until `expires_at` (Unix seconds, inclusive).
    ///
    /// Entries that expired before `now` are dropped first. Returns an empty
    /// error_code when `id` was recorded, errc::replayed when it is already
    /// present, errc::replay_cache_full when there is no room (fail closed).
    std::error_code insert(bytes_view id, std::int64_t expires_at, std::int64_t now) {
        std::lock_guard lock(mutex_);
        purge_expired(now);
        std::string key(id.begin(), id.end());
        if (entries_.find(key) != entries_.end()) return make_error_code(errc::replayed);
        if (entries_.size() >= capacity_) return make_error_code(errc::replay_cache_full);
        by_expiry_.emplace(expires_at, key);
        entries_.emplace(std::move(key), expires_at);
        return {};
    }

    /// Whether `id` is present and not expired at `now`.
    bool contains(bytes_view id, std::int64_t now) const {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(std::string(id.begin(), id.end()));
        return it != entries_.end() && it->second >= now;
    }

    /// Number of entries currently held (expired ones included until the next insert).
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return entries_.size();
    }

    std::size_t capacity() const noexcept { return capacity_; }

    /// Forget everything.
    void clear() {
        std::lock_guard lock(mutex_);
        entries_.clear();
        by_expiry_.clear();
    }

private:
    void purge_expired(std::int64_t now) {
        while (!by_expiry_.empty() && by_expiry_.begin()->first < now) {
            entries_.erase(by_expiry_.begin()->second);
            by_expiry_.erase(by_expiry_.begin());
        }
    }

    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::int64_t> entries_;   // id -> expiry
    std::multimap<std::int64_t, std::string> by_expiry_;      // expiry -> id, oldest first
};

NETAIO_END_NAMESPACE
