// netaio/peer.hpp - peer records and the default peer plugin (PROTOCOL §4.2-4.4).
//
// A peer is another node known by an id, with opaque data it advertises (by
// convention a packify dict: "pubkey", "vkey", "lock", ...) and the addresses it
// was seen at. On the wire only (id, data) travel, as a packify 2-tuple, in the
// content of ADVERTISE_PEER, PEER_DISCOVERED and DISCONNECT messages.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/packify.hpp>
#include <netaio/version.hpp>

#include <chrono>
#include <concepts>
#include <compare>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

NETAIO_BEGIN_NAMESPACE

/// A (host, port) pair as a peer was seen at. Hosts are kept as text, exactly as
/// they were given or reported (no resolution), so keys match as in netaio.
struct peer_address {
    // Constructors (not an aggregate): GCC 12 destroys aggregate temporaries twice
    // when they appear in a co_await expression, and addresses are often written
    // inline there (`co_await client.receive_once({"127.0.0.1", port})`).
    peer_address() = default;
    peer_address(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}

    std::string host;
    std::uint16_t port = 0;
    friend auto operator<=>(const peer_address&, const peer_address&) = default;
    friend bool operator==(const peer_address&, const peer_address&) = default;
};

/// Whole Unix seconds now (netaio keeps peer times in integer seconds).
inline std::int64_t unix_seconds_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Peer {
    std::set<peer_address> addrs;
    std::optional<bytes> id;
    std::optional<bytes> data;
    std::int64_t last_rx = 0;  ///< whole Unix seconds of the last sign of life

    /// Replace the data when given and refresh last_rx (Python: Peer.update).
    void update(std::optional<bytes> new_data, std::int64_t now_seconds) {
        if (new_data) data = std::move(new_data);
        last_rx = now_seconds;
    }
    /// Python's Peer.timed_out: now - last_rx > timeout, in whole seconds (now and
    /// last_rx are integers, so a timeout of 0.3 expires at the next second tick).
    bool timed_out(double timeout_seconds, std::int64_t now_seconds) const noexcept {
        return static_cast<double>(now_seconds - last_rx) > timeout_seconds;
    }
    friend bool operator==(const Peer&, const Peer&) = default;
};

/// Caps on what a peer record from the network may carry (RELIABILITY B12).
struct peer_limits {
    std::size_t max_id_bytes = 64;
    std::size_t max_data_bytes = 4096;
    packify::decode_options decoding = [] {
        packify::decode_options o;
        o.max_depth = 16;
        o.max_items = 1024;
        o.max_total_items = 4096;
        return o;
    }();
};

/// netaio's DefaultPeerPlugin: peers travel as packify (id, data).
class DefaultPeerPlugin {
public:
    explicit DefaultPeerPlugin(peer_limits limits = {}) : limits_(std::move(limits)) {}

    /// packify TUPLE (id, data), each BYTES or NONE; addresses are not sent.
    bytes pack(const Peer& peer) const {
        auto field = [](const std::optional<bytes>& b) { return b ? packify::value(*b) : packify::value(); };
        return packify::pack(packify::tuple{field(peer.id), field(peer.data)});
    }

    /// A Peer with no addresses from packed (id, data). Strict: a 2-item tuple or
    /// list of bytes/None within the size caps; anything else is errc::malformed_peer.
    Peer unpack(bytes_view packed, std::error_code& ec) const {
        std::error_code packify_ec;
        packify::value v = packify::unpack(packed, limits_.decoding, packify_ec);
        Peer peer;
        const std::vector<packify::value>* items = nullptr;
        if (!packify_ec && (v.type() == packify::kind::tuple || v.type() == packify::kind::list)) items = &v.items();
        if (!items || items->size() != 2) {
            ec = make_error_code(errc::malformed_peer);
            return {};
        }
        auto field = [&](const packify::value& f, std::size_t cap, std::optional<bytes>& out) {
            if (f.is_none()) return true;
            const bytes* b = f.get_if<bytes>();
            if (!b || b->size() > cap) return false;
            out = *b;
            return true;
        };
        if (!field((*items)[0], limits_.max_id_bytes, peer.id) || !field((*items)[1], limits_.max_data_bytes, peer.data)) {
            ec = make_error_code(errc::malformed_peer);
            return {};
        }
        ec.clear();
        return peer;
    }
    Peer unpack(bytes_view packed) const {
        std::error_code ec;
        Peer p = unpack(packed, ec);
        detail::throw_if(ec);
        return p;
    }

    /// packify-encode peer data (Python ignores its peer-id argument here).
    bytes encode_data(const packify::value& data) const { return packify::pack(data); }

    /// packify-decode the peer's data; errc::missing_peer_data when absent.
    packify::value parse_data(const Peer& peer, std::error_code& ec) const {
        if (!peer.data) {
            ec = make_error_code(errc::missing_peer_data);
            return {};
        }
        return packify::unpack(*peer.data, limits_.decoding, ec);
    }
    packify::value parse_data(const Peer& peer) const {
        std::error_code ec;
        packify::value v = parse_data(peer, ec);
        detail::throw_if(ec);
        return v;
    }

    /// A peer is valid when it has an id.
    bool validate(const Peer& peer) const noexcept { return peer.id.has_value(); }

    const peer_limits& limits() const noexcept { return limits_; }

private:
    peer_limits limits_;
};

/// What a peer plugin does (netaio's PeerPlugin interface): pack a peer for the
/// wire and back, and encode / parse its data. DefaultPeerPlugin is the one netaio
/// ships; the nodes use it.
template <class P>
concept PeerPlugin = requires(const P& p, const Peer& peer, bytes_view packed, const packify::value& data,
                              std::error_code& ec) {
    { p.pack(peer) } -> std::same_as<bytes>;
    { p.unpack(packed, ec) } -> std::same_as<Peer>;
    { p.encode_data(data) } -> std::same_as<bytes>;
    { p.parse_data(peer, ec) } -> std::same_as<packify::value>;
    { p.validate(peer) } -> std::convertible_to<bool>;
};
static_assert(PeerPlugin<DefaultPeerPlugin>);

/// ADVERTISE_PEER / PEER_DISCOVERED / DISCONNECT body: uri = app_id, content = pack(local peer).
inline Message make_peer_message(MessageType type, byte_source app_id, const Peer& local,
                                 const DefaultPeerPlugin& plugin = DefaultPeerPlugin()) {
    return Message::prepare(Body::prepare(plugin.pack(local), app_id), type);
}

NETAIO_END_NAMESPACE
