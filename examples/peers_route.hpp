// examples/peers_route.hpp - peer management for the CRUD server (--peer-id).
//
// The server answers ADVERTISE_PEER from clients with PEER_DISCOVERED and answers
// (REQUEST_URI, "_peers") with the packify-encoded, sorted list of the peer ids it
// knows, so a client (or netaio-cli) can see who is connected.
#pragma once

#include <netaio/packify.hpp>
#include <netaio/tcp_server.hpp>

#include <string>

namespace crud {

/// The identity a server or node advertises for `--peer-id ID`.
inline netaio::Peer make_local_peer(const std::string& id) {
    netaio::Peer self;
    self.id = netaio::to_bytes(id);
    self.data = netaio::packify::pack(netaio::packify::dict{{"name", id}});
    return self;
}

/// Enable peer management on `server` (its options must carry a local peer) and
/// serve the "_peers" route.
inline void install_peer_routes(netaio::TCPServer& server) {
    server.manage_peers_automatically();
    server.on({netaio::MessageType::REQUEST_URI, "_peers"}, [&server](const netaio::Message& m) {
        netaio::packify::list ids;
        for (const netaio::bytes& id : server.peers().ids()) ids.items.emplace_back(id);  // ids() is sorted
        return netaio::make_respond_uri_msg(netaio::packify::pack(ids), m.body.uri);
    });
}

}  // namespace crud
