// examples/netaio_cli.cpp - netaio-cli: poke a netaio network from the shell.
//
//   netaio-cli request   --uri URI [--content TEXT]          REQUEST_URI, print the reply
//   netaio-cli create    --uri URI --content TEXT            CREATE_URI
//   netaio-cli update    --uri URI --content TEXT            UPDATE_URI
//   netaio-cli delete    --uri URI                           DELETE_URI
//   netaio-cli subscribe --uri TOPIC [--count N]             print every NOTIFY_URI (until N or Ctrl-C)
//   netaio-cli publish   --uri TOPIC --content TEXT          PUBLISH_URI
//       common: --host H --port P --hmac SECRET --cipher KEY --timeout-ms MS
//               --peer-id ID (advertise as a peer on connect)
//               --expect-peer ID (request --uri _peers: exit 1 unless ID is listed)
//   netaio-cli serve     [crud_server flags] [--peer-id ID]  the CRUD server (prints READY host port)
//   netaio-cli node      [--host H] [--port P] [--hmac S] [--cipher K] [--peer-id ID] [--app-id A]
//                        [--advertise-every MS] [--peer-timeout S] [--multicast-group G]
//                        [--interface IF] [--multicast-port P] [--ttl N] [--peer HOST:PORT]...
//       a UDP node: answers REQUEST_URI "echo", manages peers, prints one JSON line per
//       discovered / updated / removed peer.
//
// Exit codes: 0 success, 1 the server answered with an error (or nothing), 2 bad usage.
#include "crud_app.hpp"
#include "peers_route.hpp"

#include <netaio/packify_json.hpp>
#include <netaio/udp_node.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace {

using netaio::Message;
using netaio::MessageType;

/// Flags as a multimap (repeatable ones, like --peer, keep every value).
struct arguments {
    std::multimap<std::string, std::string> values;
    std::string get(const std::string& flag, const std::string& fallback = {}) const {
        auto it = values.find(flag);
        return it == values.end() ? fallback : it->second;
    }
    bool has(const std::string& flag) const { return values.count(flag) > 0; }
};

int usage() {
    std::fprintf(stderr,
                 "usage: netaio-cli COMMAND [--flag value]...\n"
                 "  request|create|update|delete|subscribe|publish  --uri URI [--content TEXT] [--count N]\n"
                 "      --host H --port P --hmac SECRET --cipher KEY --timeout-ms MS --peer-id ID --expect-peer ID\n"
                 "  serve  [--host H] [--port P] [--hmac S] [--cipher K] [--inner-hmac S2] [--peer-id ID]\n"
                 "  node   [--host H] [--port P] [--hmac S] [--cipher K] [--peer-id ID] [--app-id A]\n"
                 "         [--advertise-every MS] [--peer-timeout S] [--multicast-group G] [--interface IF]\n"
                 "         [--multicast-port P] [--ttl N] [--peer HOST:PORT]...\n");
    return 2;
}

std::optional<arguments> parse(int argc, char** argv, int first) {
    arguments a;
    for (int i = first; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag.rfind("--", 0) != 0 || i + 1 >= argc) return std::nullopt;
        a.values.emplace(flag, argv[++i]);
    }
    return a;
}

std::string printable(netaio::bytes_view b) { return crud::quoted(b); }

/// The crud settings (host, port, plugins, timeout) from the common flags.
crud::settings connection_settings(const arguments& a) {
    crud::settings s;
    s.host = a.get("--host", "127.0.0.1");
    s.port = static_cast<std::uint16_t>(std::stoul(a.get("--port", "8888")));
    if (a.has("--hmac")) s.hmac = a.get("--hmac");
    if (a.has("--cipher")) s.cipher = a.get("--cipher");
    s.timeout = std::chrono::milliseconds(std::stoul(a.get("--timeout-ms", "10000")));
    return s;
}

// ---- client commands ------------------------------------------------------------------

/// One request of `type`; prints the reply; 0 when it is RESPOND_URI or OK.
asio::awaitable<int> one_request(netaio::TCPClient& client, MessageType type, std::string uri, std::string content,
                                 std::chrono::milliseconds timeout, std::string expect_peer) {
    co_await client.connect();  // with --peer-id, the advert goes out first on this connection
    Message reply = co_await client.request_as(type, uri, content, netaio::request_options().timeout(timeout));
    std::printf("%s uri=%s content=%s\n", crud::type_name(reply.type()).c_str(), printable(reply.body.uri).c_str(),
                printable(reply.body.content).c_str());
    bool ok = reply.type() == MessageType::RESPOND_URI || reply.type() == MessageType::OK;
    if (uri == "_peers" && ok) {  // the packify list of peer ids, shown as JSON
        std::error_code ec;
        const netaio::packify::value ids = netaio::packify::unpack(reply.body.content, {}, ec);
        nlohmann::json list = nlohmann::json::array();
        if (!ec && ids.type() == netaio::packify::kind::list)
            for (const auto& id : ids.items())
                if (const auto* b = id.get_if<netaio::bytes>()) list.push_back(netaio::to_string(*b));
        std::printf("peers: %s\n", list.dump().c_str());
        if (!expect_peer.empty()) ok = std::find(list.begin(), list.end(), expect_peer) != list.end();
    }
    co_return ok ? 0 : 1;
}

/// SUBSCRIBE_URI, then print every NOTIFY_URI for the topic (count 0: forever).
asio::awaitable<int> subscribe(netaio::TCPClient& client, std::string topic, unsigned count, std::chrono::milliseconds timeout) {
    co_await client.connect();
    client.send(Message::prepare(netaio::Body::prepare("", topic), MessageType::SUBSCRIBE_URI));
    for (unsigned seen = 0; count == 0 || seen < count;) {
        std::optional<Message> m = co_await client.receive_once(std::nullopt, count == 0 ? std::chrono::milliseconds(0) : timeout);
        if (!m) continue;
        if (m->type() == MessageType::CONFIRM_SUBSCRIBE) {
            std::printf("subscribed to %s\n", printable(m->body.uri).c_str());
        } else if (m->type() == MessageType::NOTIFY_URI) {
            std::printf("NOTIFY_URI uri=%s content=%s\n", printable(m->body.uri).c_str(), printable(m->body.content).c_str());
            ++seen;
        }
        std::fflush(stdout);
    }
    co_return 0;
}

int run_client(const std::string& command, const arguments& a) {
    if (!a.has("--uri")) return usage();
    const crud::settings s = connection_settings(a);
    const crud::security_layers layers = crud::make_layers(s);
    asio::io_context io;
    netaio::tcp_client_options options;
    options.host = s.host;
    options.port = s.port;
    options.auth_plugin = layers.auth;
    options.cipher_plugin = layers.cipher;
    if (a.has("--peer-id")) options.local_peer = crud::make_local_peer(a.get("--peer-id"));
    netaio::TCPClient client(io.get_executor(), options);
    if (a.has("--peer-id")) client.manage_peers_automatically();  // advertise on connect
    int rc = 1;
    auto done = [&rc, &io](std::exception_ptr e, int result) {
        rc = result;
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::fprintf(stderr, "netaio-cli: %s\n", ex.what());
                rc = 1;
            }
        }
        io.stop();
    };
    const std::string uri = a.get("--uri");
    const std::string content = a.get("--content");
    if (command == "subscribe") {
        asio::co_spawn(io, subscribe(client, uri, static_cast<unsigned>(std::stoul(a.get("--count", "0"))), s.timeout), done);
    } else {
        const std::map<std::string, MessageType> types = {{"request", MessageType::REQUEST_URI},
                                                          {"create", MessageType::CREATE_URI},
                                                          {"update", MessageType::UPDATE_URI},
                                                          {"delete", MessageType::DELETE_URI},
                                                          {"publish", MessageType::PUBLISH_URI}};
        auto type = types.find(command);
        if (type == types.end()) return usage();
        // PUBLISH_URI is answered with OK like a write.
        asio::co_spawn(io, one_request(client, type->second, uri, content, s.timeout, a.get("--expect-peer")), done);
    }
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](std::error_code, int) { io.stop(); });
    io.run();
    return rc;
}

// ---- serve ------------------------------------------------------------------------------

int serve(int argc, char** argv) {
    // The same flags as crud_server (argv[1] is "serve").
    std::vector<char*> args{argv[0]};
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    auto s = crud::parse_command_line(static_cast<int>(args.size()), args.data(), crud::role::server);
    if (!s) return 2;
    const std::optional<std::string>& peer_id = s->peer_id;
    const crud::security_layers layers = crud::make_layers(*s);
    asio::io_context io;
    netaio::tcp_server_options options;
    options.host = s->host;
    options.port = s->port;
    options.auth_plugin = layers.auth;
    options.cipher_plugin = layers.cipher;
    if (peer_id) options.local_peer = crud::make_local_peer(*peer_id);
    netaio::TCPServer server(io.get_executor(), options);
    crud::store data;
    crud::install_routes(server, data, layers.writes);
    if (peer_id) crud::install_peer_routes(server);
    server.start();
    std::printf("READY %s %u\n", s->host.c_str(), static_cast<unsigned>(server.local_port()));
    std::fflush(stdout);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&server, &io](std::error_code, int) {
        server.close();
        io.stop();
    });
    io.run();
    return 0;
}

// ---- node ---------------------------------------------------------------------------------

/// One JSON line per discovered or removed peer: {"event", "id", "address", "data"}
/// (refreshes, one per advert, are not printed).
void print_peer_event(const netaio::peer_event& e) {
    if (e.kind == netaio::peer_event_kind::updated) return;
    static const char* names[] = {"discovered", "updated", "removed"};
    nlohmann::json line;
    line["event"] = names[static_cast<int>(e.kind)];
    line["id"] = e.peer.id ? netaio::to_string(*e.peer.id) : "";
    line["address"] = e.address.host + ":" + std::to_string(e.address.port);
    if (e.peer.data) {
        std::error_code ec;
        netaio::packify::value v = netaio::packify::unpack(*e.peer.data, {}, ec);
        try {
            line["data"] = ec ? nlohmann::json(netaio::to_hex(*e.peer.data)) : netaio::packify::to_json(v);
        } catch (const netaio::error&) {
            line["data"] = netaio::to_hex(*e.peer.data);
        }
    }
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
}

int node(const arguments& a) {
    netaio::udp_node_options options;
    options.host = a.get("--host", "0.0.0.0");
    options.port = static_cast<std::uint16_t>(std::stoul(a.get("--port", "8888")));
    options.multicast_group = a.get("--multicast-group", options.multicast_group);
    options.multicast_interface = a.get("--interface");
    options.multicast_ttl = std::stoi(a.get("--ttl", "1"));
    if (a.has("--multicast-port")) options.multicast_port = static_cast<std::uint16_t>(std::stoul(a.get("--multicast-port")));
    crud::settings s;
    if (a.has("--hmac")) s.hmac = a.get("--hmac");
    if (a.has("--cipher")) s.cipher = a.get("--cipher");
    const crud::security_layers layers = crud::make_layers(s);
    options.auth_plugin = layers.auth;
    options.cipher_plugin = layers.cipher;
    options.local_peer = crud::make_local_peer(a.get("--peer-id", "netaio-cli-" + std::to_string(::getpid())));

    netaio::peer_management_options pm;
    pm.app_id = a.get("--app-id", "netaio");
    pm.advertise_every = std::chrono::milliseconds(std::stoul(a.get("--advertise-every", "20000")));
    pm.peer_timeout = std::chrono::milliseconds(static_cast<long>(std::stod(a.get("--peer-timeout", "60")) * 1000));
    options.peers.peer_timeout = std::stod(a.get("--peer-timeout", "60"));
    for (auto [it, end] = a.values.equal_range("--peer"); it != end; ++it) {
        const auto colon = it->second.rfind(':');
        if (colon == std::string::npos) return usage();
        pm.static_peers.emplace_back(it->second.substr(0, colon), static_cast<std::uint16_t>(std::stoul(it->second.substr(colon + 1))));
    }

    asio::io_context io;
    netaio::UDPNode udp(io.get_executor(), options);
    udp.on({MessageType::REQUEST_URI, "echo"}, [](const Message& m) { return netaio::make_respond_uri_msg(m.body.content, m.body.uri); });
    udp.set_peer_callback(print_peer_event);
    udp.start();
    std::fprintf(stderr, "netaio-cli node: listening on %s:%u, adverts to %s:%u\n", options.host.c_str(),
                 static_cast<unsigned>(udp.local_port()), options.multicast_group.c_str(),
                 static_cast<unsigned>(udp.discovery_port()));
    udp.manage_peers_automatically(pm);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&udp, &io](std::error_code, int) {
        udp.stop();  // sends DISCONNECT first
        io.stop();
    });
    io.run();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string command = argv[1];
    try {
        if (command == "serve") return serve(argc, argv);
        auto a = parse(argc, argv, 2);
        if (!a) return usage();
        if (command == "node") return node(*a);
        return run_client(command, *a);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "netaio-cli: %s\n", e.what());
        return 2;
    }
}
