// netaio/peer_table.hpp - the peers a node knows, with caps, binding rules and an
// injected clock (sans-I/O).
//
// netaio keeps two maps: peer id -> Peer and address -> peer id (BEHAVIOUR B18).
// Python lets anyone add peers without limit and lets any address claim any id;
// here the table is bounded and an id stays bound to the addresses it was first
// seen at (RELIABILITY F3-F5, F9, G3):
//   - at most `max_peers` peers, `max_addresses_per_peer` addresses each and
//     `max_peers_per_ip` peer ids per source IP; newcomers are refused when full,
//     so a flood never evicts the peers already known;
//   - at most `max_adverts_per_ip_per_second` adverts per source IP and second;
//   - an advert for a known id from an address not bound to it is refused
//     (`rebinding_refused`) unless that peer has timed out;
//   - a DISCONNECT is honoured only from an address bound to that id.
// Times are whole Unix seconds, as netaio's (P§4.2): a peer times out when
// now - last_rx > timeout.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/peer.hpp>
#include <netaio/random.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

NETAIO_BEGIN_NAMESPACE

struct peer_table_options {
    std::size_t max_peers = 1024;
    std::size_t max_addresses_per_peer = 4;
    std::size_t max_peers_per_ip = 16;
    std::size_t max_adverts_per_ip_per_second = 20;
    /// Seconds after which a silent peer may be purged and its id re-bound (netaio: 60).
    double peer_timeout = 60;
    /// Let a live peer add another port on a host it is already bound at (a node
    /// with two sockets). TCP servers turn this off: there every connection has its
    /// own ephemeral port, so it would let any local process claim a peer's id.
    bool allow_new_port_on_bound_host = true;
};

/// What add_or_update() did.
enum class peer_update {
    added,               ///< a new peer
    updated,             ///< a known peer refreshed (data replaced, last_rx now, address added)
    own_id,              ///< the id is ours: ignored (BEHAVIOUR B18)
    table_full,          ///< max_peers reached: refused
    too_many_for_ip,     ///< max_peers_per_ip reached for the source IP: refused
    rate_limited,        ///< the source IP sent too many adverts this second: refused
    rebinding_refused,   ///< the id belongs to a live peer at other addresses: refused
};

inline bool accepted(peer_update u) noexcept { return u == peer_update::added || u == peer_update::updated; }

class peer_table {
public:
    explicit peer_table(peer_table_options options = {}, clock_source clock = {})
        : options_(options), clock_(std::move(clock)) {}

    /// Our own id: adverts carrying it are ignored.
    void set_local_id(std::optional<bytes> id) { local_id_ = std::move(id); }
    const std::optional<bytes>& local_id() const noexcept { return local_id_; }

    /// Record an advert (ADVERTISE_PEER / PEER_DISCOVERED) from `from`.
    peer_update add_or_update(const bytes& id, std::optional<bytes> data, const peer_address& from) {
        if (local_id_ && id == *local_id_) return peer_update::own_id;
        const std::int64_t now = clock_.now();
        if (!take_advert_token(from.host, now)) return peer_update::rate_limited;

        auto known = peers_.find(id);
        if (known != peers_.end()) {
            Peer& peer = known->second;
            const bool bound_here = peer.addrs.count(from) > 0;
            if (!bound_here) {
                if (!peer.timed_out(options_.peer_timeout, now)) {
                    if (peer.addrs.size() >= options_.max_addresses_per_peer || !options_.allow_new_port_on_bound_host ||
                        !same_host_bound(peer, from))
                        return peer_update::rebinding_refused;
                } else {
                    unbind_all(peer);  // the old binding expired: start afresh
                }
                if (auto owner = addresses_.find(from); owner != addresses_.end() && owner->second != id)
                    detach_address(from);
                peer.addrs.insert(from);
                addresses_[from] = id;
            }
            peer.update(std::move(data), now);
            return peer_update::updated;
        }
        if (peers_.size() >= options_.max_peers && !addresses_.count(from)) return peer_update::table_full;
        const bool replaces = addresses_.count(from) > 0;  // a new id at a bound address replaces its old id
        if (!replaces && ids_at_ip(from.host) >= options_.max_peers_per_ip) return peer_update::too_many_for_ip;
        if (auto owner = addresses_.find(from); owner != addresses_.end()) detach_address(from);
        Peer peer;
        peer.id = id;
        peer.data = std::move(data);
        peer.last_rx = now;
        peer.addrs.insert(from);
        peers_.emplace(id, std::move(peer));
        addresses_[from] = id;
        return peer_update::added;
    }

    /// Python's get_peer(addr, peer_id): by id first, then by address.
    const Peer* get(const std::optional<peer_address>& addr, const std::optional<bytes>& id = std::nullopt) const {
        if (id)
            if (auto it = peers_.find(*id); it != peers_.end()) return &it->second;
        if (addr) return by_address(*addr);
        return nullptr;
    }
    const Peer* by_id(const bytes& id) const {
        auto it = peers_.find(id);
        return it == peers_.end() ? nullptr : &it->second;
    }
    const Peer* by_address(const peer_address& addr) const {
        auto it = addresses_.find(addr);
        return it == addresses_.end() ? nullptr : by_id(it->second);
    }

    /// Mark the peer at `addr` alive (a reply was sent to it, BEHAVIOUR B97).
    void refresh(const peer_address& addr) {
        if (auto it = addresses_.find(addr); it != addresses_.end())
            if (auto p = peers_.find(it->second); p != peers_.end()) p->second.last_rx = clock_.now();
    }

    /// Remove a peer and every address bound to it. False when unknown.
    bool remove(const bytes& id) {
        auto it = peers_.find(id);
        if (it == peers_.end()) return false;
        unbind_all(it->second);
        peers_.erase(it);
        return true;
    }

    /// Forget the binding of `addr` (e.g. its TCP connection closed); a peer left
    /// without addresses is removed and returned.
    std::optional<Peer> unbind(const peer_address& addr) {
        auto it = addresses_.find(addr);
        if (it == addresses_.end()) return std::nullopt;
        const bytes id = it->second;
        detach_address(addr);
        if (peers_.count(id)) return std::nullopt;
        Peer gone;
        gone.id = id;
        gone.addrs.insert(addr);
        return gone;
    }

    /// Honour a DISCONNECT for `id` received from `from`: only an address bound to
    /// that id may remove it (RELIABILITY F5). True when the peer was removed.
    bool disconnect(const bytes& id, const peer_address& from) {
        auto it = peers_.find(id);
        if (it == peers_.end() || it->second.addrs.count(from) == 0) return false;
        return remove(id);
    }

    /// Remove every peer silent for more than `timeout` seconds (whole seconds) and
    /// return their ids. Unlike netaio, every such peer goes, whatever its addresses.
    std::vector<bytes> remove_timed_out(std::optional<double> timeout = std::nullopt) {
        const double t = timeout.value_or(options_.peer_timeout);
        const std::int64_t now = clock_.now();
        std::vector<bytes> gone;
        for (const auto& [id, peer] : peers_)
            if (peer.timed_out(t, now)) gone.push_back(id);
        for (const bytes& id : gone) remove(id);
        return gone;
    }

    std::size_t size() const noexcept { return peers_.size(); }
    bool empty() const noexcept { return peers_.empty(); }
    /// Known peer ids, sorted (bytewise).
    std::vector<bytes> ids() const {
        std::vector<bytes> out;
        for (const auto& [id, peer] : peers_) out.push_back(id);
        return out;
    }
    /// Addresses bound to any peer.
    std::vector<peer_address> addresses() const {
        std::vector<peer_address> out;
        for (const auto& [addr, id] : addresses_) out.push_back(addr);
        return out;
    }
    const std::map<bytes, Peer>& peers() const noexcept { return peers_; }
    const peer_table_options& options() const noexcept { return options_; }
    const clock_source& clock() const noexcept { return clock_; }

private:
    /// Fixed one-second windows per source IP; the window map is bounded.
    bool take_advert_token(const std::string& ip, std::int64_t now) {
        auto& window = rate_[ip];
        if (window.second != now) window = {0, now};
        if (window.first >= options_.max_adverts_per_ip_per_second) return false;
        ++window.first;
        if (rate_.size() > 4 * options_.max_peers) {  // forget idle sources
            for (auto it = rate_.begin(); it != rate_.end();) it = it->second.second != now ? rate_.erase(it) : std::next(it);
        }
        return true;
    }

    std::size_t ids_at_ip(const std::string& ip) const {
        std::size_t n = 0;
        for (const auto& [addr, id] : addresses_)
            if (addr.host == ip) ++n;
        return n;
    }

    /// A live peer may add another port on a host it is already bound at.
    static bool same_host_bound(const Peer& peer, const peer_address& from) {
        return std::any_of(peer.addrs.begin(), peer.addrs.end(), [&](const peer_address& a) { return a.host == from.host; });
    }

    void unbind_all(Peer& peer) {
        for (const auto& a : peer.addrs)
            if (auto it = addresses_.find(a); it != addresses_.end() && peer.id && it->second == *peer.id) addresses_.erase(it);
        peer.addrs.clear();
    }

    /// Remove `addr` from whichever peer holds it (that peer moved away from it);
    /// a peer left without any address is forgotten, so one address cannot pile up ids.
    void detach_address(const peer_address& addr) {
        auto it = addresses_.find(addr);
        if (it == addresses_.end()) return;
        if (auto p = peers_.find(it->second); p != peers_.end()) {
            p->second.addrs.erase(addr);
            if (p->second.addrs.empty()) peers_.erase(p);
        }
        addresses_.erase(it);
    }

    peer_table_options options_;
    clock_source clock_;
    std::optional<bytes> local_id_;
    std::map<bytes, Peer> peers_;
    std::map<peer_address, bytes> addresses_;
    std::map<std::string, std::pair<std::size_t, std::int64_t>> rate_;  // ip -> (count, second)
};

NETAIO_END_NAMESPACE
