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
//
// Layout: every id is reduced to a 32-byte keyed BLAKE2b digest (key drawn at
// random per cache), so entries have a fixed size and live in flat arrays: an
// open-addressing table (linear probing, at most half full) for lookups and a
// binary min-heap on the expiry time for purging. Once the arrays have grown to
// the traffic's working set, inserting allocates nothing; when most entries have
// expired (a burst is over), they shrink again. The digest is collision
// resistant, so two different ids count as the same message only with
// negligible probability (~2^-128); the random key keeps an attacker from
// steering ids into one probe run.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <system_error>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// Thread-safe bounded replay cache keyed by opaque message identifiers.
///
/// Share one instance (through std::shared_ptr) between plugins or servers that
/// must not accept the same message twice.
class replay_cache {
public:
    /// Default capacity (RELIABILITY.md §5): 1,048,576 entries.
    static constexpr std::size_t default_capacity = std::size_t{1} << 20;

    explicit replay_cache(std::size_t capacity = default_capacity) : capacity_(capacity) {
        detail::ensure_sodium();
        crypto_generichash_keygen(digest_key_.data());
    }

    replay_cache(const replay_cache&) = delete;
    replay_cache& operator=(const replay_cache&) = delete;

    ~replay_cache() { sodium_memzero(digest_key_.data(), digest_key_.size()); }

    /// Remember `id` until `expires_at` (Unix seconds, inclusive).
    ///
    /// Entries that expired before `now` are dropped first. Returns an empty
    /// error_code when `id` was recorded, errc::replayed when it is already
    /// present, errc::replay_cache_full when there is no room (fail closed).
    std::error_code insert(bytes_view id, std::int64_t expires_at, std::int64_t now) {
        const key k = digest_of(id);  // outside the lock: hashing is the costly part
        std::lock_guard lock(mutex_);
        purge_expired(now);
        shrink_if_sparse();
        if (find(k) != npos) return make_error_code(errc::replayed);
        if (size_ >= capacity_) return make_error_code(errc::replay_cache_full);
        // The steps that may allocate (and throw) come before any that change the
        // table, so a failed insert leaves the cache as it was.
        if (2 * (size_ + 1) > table_.size()) grow();
        by_expiry_.push_back(entry{k, expires_at});
        place(by_expiry_.back());
        std::push_heap(by_expiry_.begin(), by_expiry_.end(), expires_later);
        ++size_;
        return {};
    }

    /// Whether `id` is present and not expired at `now`.
    bool contains(bytes_view id, std::int64_t now) const {
        const key k = digest_of(id);
        std::lock_guard lock(mutex_);
        const std::size_t i = find(k);
        return i != npos && table_[i].expires_at >= now;
    }

    /// Number of entries currently held (expired ones included until the next insert).
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return size_;
    }

    std::size_t capacity() const noexcept { return capacity_; }

    /// Bytes held by the entry arrays. They grow with the entries held (about 143 MB
    /// for a full cache of the default capacity) and shrink again once most entries
    /// have expired: the next insert gives the memory of a past burst back.
    std::size_t memory_bytes() const {
        std::lock_guard lock(mutex_);
        return table_.capacity() * sizeof(slot) + by_expiry_.capacity() * sizeof(entry);
    }

    /// Forget everything. (The next insert gives the arrays' storage back.)
    void clear() {
        std::lock_guard lock(mutex_);
        std::fill(table_.begin(), table_.end(), slot{});
        by_expiry_.clear();
        size_ = 0;
    }

private:
    static constexpr std::size_t digest_size = 32;
    using key = std::array<std::uint8_t, digest_size>;

    struct entry {
        key id;
        std::int64_t expires_at;
    };
    struct slot : entry {
        bool used = false;
        slot() : entry{key{}, 0} {}
        explicit slot(const entry& e) : entry(e), used(true) {}
    };

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    static constexpr std::size_t initial_table_size = 16;

    // The min-heap order for std::push_heap/pop_heap: the earliest expiry on top.
    static bool expires_later(const entry& a, const entry& b) noexcept { return a.expires_at > b.expires_at; }

    key digest_of(bytes_view id) const noexcept {
        key k;
        crypto_generichash(k.data(), k.size(), id.data(), id.size(), digest_key_.data(), digest_key_.size());
        return k;
    }

    // The digest is uniformly distributed, so its first bytes are a good table index.
    std::size_t home_of(const key& k) const noexcept {
        std::uint64_t h = 0;
        for (std::size_t i = 0; i < sizeof h; ++i) h = (h << 8) | k[i];
        return static_cast<std::size_t>(h) & (table_.size() - 1);
    }

    std::size_t next(std::size_t i) const noexcept { return (i + 1) & (table_.size() - 1); }

    // The table index holding `k`, or npos. The table always has a free slot, so
    // every probe run ends.
    std::size_t find(const key& k) const noexcept {
        if (table_.empty()) return npos;
        for (std::size_t i = home_of(k); table_[i].used; i = next(i))
            if (table_[i].id == k) return i;
        return npos;
    }

    // Put a new entry (known to be absent) into the first free slot of its probe run.
    void place(const entry& e) noexcept {
        std::size_t i = home_of(e.id);
        while (table_[i].used) i = next(i);
        table_[i] = slot(e);
    }

    // Double the table (rehashing every entry). Bounded by the capacity, since
    // insert() grows only while size_ < capacity_, and amortised: a cache at its
    // working set never grows again.
    void grow() {
        std::vector<slot> old(std::max(initial_table_size, 2 * table_.size()));
        old.swap(table_);
        for (const slot& s : old)
            if (s.used) place(s);
    }

    // After a burst has expired, give its memory back: once the table is less than
    // 1/8 full, rebuild it at most 1/4 full (grow() doubles it past 1/2, so growing
    // and shrinking never chase each other), and trim the heap's storage. Best
    // effort: if the smaller arrays cannot be allocated, the larger ones stay.
    void shrink_if_sparse() noexcept {
        if (table_.size() <= initial_table_size || 8 * size_ >= table_.size()) return;
        std::size_t slots = initial_table_size;
        while (slots < 4 * size_) slots *= 2;
        try {
            std::vector<slot> smaller(slots);
            std::vector<entry> heap(by_expiry_.begin(), by_expiry_.end());  // capacity == size
            table_.swap(smaller);
            by_expiry_.swap(heap);
        } catch (const std::bad_alloc&) {
            return;
        }
        for (const entry& e : by_expiry_) place(e);  // the heap holds every live entry once
    }

    // Remove the entry at `i`, then shift later members of the probe run back so
    // that find() still reaches them (deletion without tombstones).
    void erase_at(std::size_t i) noexcept {
        std::size_t hole = i;
        for (std::size_t j = next(i); table_[j].used; j = next(j)) {
            // Move j into the hole unless its home lies cyclically in (hole, j].
            const std::size_t home = home_of(table_[j].id);
            const bool home_after_hole = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (home_after_hole) continue;
            table_[hole] = table_[j];
            hole = j;
        }
        table_[hole] = slot{};
    }

    void purge_expired(std::int64_t now) noexcept {
        while (!by_expiry_.empty() && by_expiry_.front().expires_at < now) {
            erase_at(find(by_expiry_.front().id));
            std::pop_heap(by_expiry_.begin(), by_expiry_.end(), expires_later);
            by_expiry_.pop_back();
            --size_;
        }
    }

    const std::size_t capacity_;
    key digest_key_{};                 // BLAKE2b key of this cache's digests
    mutable std::mutex mutex_;
    std::vector<slot> table_;          // open addressing, power-of-two size, at most half full
    std::vector<entry> by_expiry_;     // min-heap on expires_at: the next entry to purge on top
    std::size_t size_ = 0;
};

NETAIO_END_NAMESPACE
