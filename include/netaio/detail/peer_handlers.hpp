// netaio/detail/peer_handlers.hpp - what the three peer-management handlers do,
// shared by TCPServer, TCPClient and UDPNode (BEHAVIOUR B43-B45).
#pragma once

#include <netaio/detail/node_core.hpp>
#include <netaio/options.hpp>
#include <netaio/peer.hpp>
#include <netaio/peer_table.hpp>
#include <netaio/version.hpp>

#include <functional>
#include <optional>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// Peer bookkeeping of one node: the table, its observer and the rejection counters.
struct peer_registry {
    peer_table table;
    peer_callback on_peer;

    void emit(peer_event_kind kind, const Peer& p, const peer_address& where) const {
        if (on_peer) on_peer(peer_event{kind, p, where});
    }

    /// ADVERTISE_PEER / PEER_DISCOVERED from `from`: record it. True when accepted
    /// (not our own id, not refused by a cap or binding rule).
    template <class Core>
    bool record(Core& core, const Message& m, const peer_address& from) {
        std::error_code ec;
        Peer p = core.peer_plugin.unpack(m.body.content, ec);
        if (ec || !p.id || !p.data) {  // netaio ignores adverts without id or data
            core.reject(errc::malformed_peer, from);
            return false;
        }
        const bool known = table.by_id(*p.id) != nullptr;
        switch (table.add_or_update(*p.id, p.data, from)) {
            case peer_update::own_id: return false;
            case peer_update::rate_limited: core.reject(errc::rate_limited, from); return false;
            case peer_update::table_full:
            case peer_update::too_many_for_ip: core.reject(errc::peer_table_full, from); return false;
            case peer_update::rebinding_refused: core.reject(errc::rebinding_refused, from); return false;
            case peer_update::added:
            case peer_update::updated: break;
        }
        emit(known ? peer_event_kind::updated : peer_event_kind::discovered, *table.by_id(*p.id), from);
        return true;
    }

    /// DISCONNECT from `from`: honoured only from an address bound to that id
    /// (RELIABILITY F5). Returns the removed peer.
    template <class Core>
    std::optional<Peer> forget(Core& core, const Message& m, const peer_address& from) {
        std::error_code ec;
        Peer p = core.peer_plugin.unpack(m.body.content, ec);
        if (ec || !p.id) {
            core.reject(errc::malformed_peer, from);
            return std::nullopt;
        }
        const Peer* known = table.by_id(*p.id);
        if (!known || known->addrs.count(from) == 0) return std::nullopt;
        Peer copy = *known;
        table.remove(*p.id);
        emit(peer_event_kind::removed, copy, from);
        return copy;
    }
};

}  // namespace detail
NETAIO_END_NAMESPACE
