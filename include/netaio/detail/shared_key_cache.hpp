// netaio/detail/shared_key_cache.hpp - a bounded LRU of precomputed crypto_box keys.
//
// netaio 0.0.9 builds a fresh nacl Box per message, i.e. one X25519 scalar
// multiplication (crypto_box_beforenm) for every frame sent or received. The key
// only depends on the peer's public key (our secret key is fixed per plugin), so
// X25519CipherPlugin keeps the most recently used ones here (RELIABILITY §3.8 G6:
// 1,024 keys, LRU eviction, results unchanged). Evicted and remaining keys are
// wiped. Thread-safe: one mutex around short lookups; the scalar multiplication
// itself runs outside the lock.
#pragma once

#include <netaio/detail/sodium.hpp>
#include <netaio/version.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// A 32-byte key (public key or precomputed shared key).
using key32 = std::array<std::uint8_t, 32>;

struct key32_hash {
    std::size_t operator()(const key32& k) const noexcept {
        // Public keys come from peer data; std::hash of the bytes is enough here
        // (the map is bounded, so colliding inserts cannot grow it without limit).
        return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
    }
};

/// Thread-safe LRU map from a peer public key to the crypto_box_beforenm key.
class shared_key_cache {
public:
    /// RELIABILITY §3.8 G6.
    static constexpr std::size_t default_capacity = 1024;

    explicit shared_key_cache(std::size_t capacity = default_capacity) : capacity_(capacity) {}
    shared_key_cache(const shared_key_cache&) = delete;
    shared_key_cache& operator=(const shared_key_cache&) = delete;
    ~shared_key_cache() { clear(); }

    /// Copy the key cached for `peer` into `out` and mark it most recently used.
    bool find(const key32& peer, key32& out) {
        std::lock_guard lock(mutex_);
        auto it = index_.find(peer);
        if (it == index_.end()) {
            ++misses_;
            return false;
        }
        ++hits_;
        order_.splice(order_.begin(), order_, it->second);  // most recent first
        out = it->second->second;
        return true;
    }

    /// Remember `shared` for `peer`, evicting the least recently used key when full.
    void insert(const key32& peer, const key32& shared) {
        if (capacity_ == 0) return;
        std::lock_guard lock(mutex_);
        if (auto it = index_.find(peer); it != index_.end()) {  // another thread got there first
            order_.splice(order_.begin(), order_, it->second);
            return;
        }
        if (order_.size() >= capacity_) {
            auto& oldest = order_.back();
            index_.erase(oldest.first);
            sodium_memzero(oldest.second.data(), oldest.second.size());
            order_.pop_back();
            ++evictions_;
        }
        order_.emplace_front(peer, shared);
        index_.emplace(peer, order_.begin());
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return order_.size();
    }
    std::size_t capacity() const noexcept { return capacity_; }
    std::uint64_t hits() const {
        std::lock_guard lock(mutex_);
        return hits_;
    }
    std::uint64_t misses() const {
        std::lock_guard lock(mutex_);
        return misses_;
    }
    std::uint64_t evictions() const {
        std::lock_guard lock(mutex_);
        return evictions_;
    }

    /// Forget (and wipe) every key.
    void clear() {
        std::lock_guard lock(mutex_);
        for (auto& e : order_) sodium_memzero(e.second.data(), e.second.size());
        order_.clear();
        index_.clear();
    }

private:
    using entry = std::pair<key32, key32>;  // peer public key, shared key
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::list<entry> order_;  // most recently used first
    std::unordered_map<key32, std::list<entry>::iterator, key32_hash> index_;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
    std::uint64_t evictions_ = 0;
};

}  // namespace detail
NETAIO_END_NAMESPACE
