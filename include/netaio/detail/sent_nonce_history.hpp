// netaio/detail/sent_nonce_history.hpp - the nonces of the boxes we sent recently.
//
// crypto_box keys are symmetric: the key A uses to box a frame for B is the key
// A uses to open frames from B. So a frame A sent to B, sent back to A by anyone
// on the path, opens fine at A and looks like a message from B (reflection,
// RELIABILITY §3.5 D7). The fix that keeps the wire unchanged: remember the
// nonces we used and refuse a frame carrying one of them.
//
// This sits on every send and every receive, so it never allocates once warm: a
// ring of the last `capacity` nonces (the oldest is overwritten: the guard then
// covers fewer frames, but sending never fails because of it) indexed by an
// open-addressing table at most half full. Entries also expire after
// `retention` seconds. The table is keyed by our own random nonces, and its hash
// is salted, so received (attacker-chosen) nonces can only be looked up, never
// steer the layout. Thread-safe.
#pragma once

#include <netaio/detail/sodium.hpp>
#include <netaio/version.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// A crypto_box nonce.
using nonce24 = std::array<std::uint8_t, 24>;

/// Bounded, expiring set of nonces we sent.
class sent_nonce_history {
public:
    /// Largest supported capacity (indices are 32-bit; 2^24 nonces use about 640 MiB).
    static constexpr std::size_t max_capacity = std::size_t{1} << 24;

    /// `capacity` in 1..max_capacity (clamped), `retention_seconds` > 0. Memory
    /// (about 40 bytes per nonce) is taken at the first insert.
    sent_nonce_history(std::size_t capacity, std::int64_t retention_seconds)
        : capacity_(capacity == 0 ? 1 : (capacity > max_capacity ? max_capacity : capacity)),
          retention_(retention_seconds) {
        ensure_sodium();
        randombytes_buf(&salt_, sizeof salt_);
    }
    sent_nonce_history(const sent_nonce_history&) = delete;
    sent_nonce_history& operator=(const sent_nonce_history&) = delete;

    /// Remember `nonce`, sent at `now` (Unix seconds), until now + retention.
    void insert(const nonce24& nonce, std::int64_t now) {
        std::lock_guard lock(mutex_);
        if (ring_.empty()) {
            ring_.resize(capacity_);
            slots_.assign(std::bit_ceil(2 * capacity_), empty_slot);
        }
        if (count_ == capacity_) erase_slot_of(static_cast<std::uint32_t>(head_));  // forget the oldest
        ring_[head_] = entry{nonce, now + retention_};
        std::size_t i = home(nonce);
        while (slots_[i] != empty_slot) i = (i + 1) & mask();
        slots_[i] = static_cast<std::uint32_t>(head_);
        head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
        if (count_ < capacity_) ++count_;
    }

    /// Whether `nonce` is one we sent and still remember at `now`.
    bool contains(const nonce24& nonce, std::int64_t now) const {
        std::lock_guard lock(mutex_);
        if (ring_.empty()) return false;
        // A repeated nonce (only with an injected, non-random source) may sit in
        // several slots of one cluster: any live copy counts.
        for (std::size_t i = home(nonce); slots_[i] != empty_slot; i = (i + 1) & mask()) {
            const entry& e = ring_[slots_[i]];
            if (e.nonce == nonce && e.expires >= now) return true;
        }
        return false;
    }

    /// Nonces held, expired ones included until they are overwritten (at most capacity()).
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return count_;
    }
    std::size_t capacity() const noexcept { return capacity_; }
    std::int64_t retention_seconds() const noexcept { return retention_; }

    void clear() {
        std::lock_guard lock(mutex_);
        ring_.clear();
        slots_.clear();
        head_ = 0;
        count_ = 0;
    }

private:
    struct entry {
        nonce24 nonce{};
        std::int64_t expires = 0;
    };
    static constexpr std::uint32_t empty_slot = 0xFFFFFFFF;

    std::size_t mask() const noexcept { return slots_.size() - 1; }

    std::size_t home(const nonce24& nonce) const noexcept {
        std::uint64_t v;
        std::memcpy(&v, nonce.data(), sizeof v);
        v = (v ^ salt_) * 0x9E3779B97F4A7C15ull;  // Fibonacci hashing: the high bits are well mixed
        return static_cast<std::size_t>(v >> (64 - std::countr_zero(slots_.size()))) & mask();
    }

    // Remove the slot pointing at ring index `index`, then close the gap (backward-
    // shift deletion keeps every remaining key reachable from its home slot).
    void erase_slot_of(std::uint32_t index) {
        std::size_t i = home(ring_[index].nonce);
        while (slots_[i] != index) i = (i + 1) & mask();
        slots_[i] = empty_slot;
        for (std::size_t j = (i + 1) & mask(); slots_[j] != empty_slot; j = (j + 1) & mask()) {
            const std::size_t k = home(ring_[slots_[j]].nonce);
            // Leave slots_[j] where it is when its home lies cyclically in (i, j].
            const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (stays) continue;
            slots_[i] = slots_[j];
            slots_[j] = empty_slot;
            i = j;
        }
    }

    const std::size_t capacity_;
    const std::int64_t retention_;
    std::uint64_t salt_ = 0;
    mutable std::mutex mutex_;
    std::vector<entry> ring_;            // the last capacity_ nonces, oldest at head_ once full
    std::vector<std::uint32_t> slots_;   // ring indices; power-of-two size >= 2 * capacity_
    std::size_t head_ = 0;               // next ring position to write
    std::size_t count_ = 0;
};

}  // namespace detail
NETAIO_END_NAMESPACE
