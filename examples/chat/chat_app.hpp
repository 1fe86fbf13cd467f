// examples/chat/chat_app.hpp - an end-to-end encrypted chat over an untrusted relay,
// shared by examples/chat/chat.cpp and tests/unit/test_chat_example.cpp.
//
//   alice ──┐                    ┌── bob
//           ├──── relay (TCP) ───┤
//   carol ──┘
//
// The parts:
//   1. names and wire helpers   what travels between clients and relay;
//   2. relay                    a TCPServer that learns who is connected through peer
//                               management and forwards sealed frames; it holds no
//                               secret key and never decrypts;
//   3. client                   a TCPClient that advertises its public keys as peer
//                               data, learns the others' keys from the relay, and seals
//                               every message for its one recipient.
//
// Wire (all plain netaio messages; the relay reads only the outer ones):
//   client -> relay  PUBLISH_URI  uri "send/<to>"    content = sealed frame      (reply OK / NOT_FOUND / ERROR)
//   relay -> client  NOTIFY_URI   uri "chat/<from>"  content = packify [record of <from>, sealed frame]
//   client -> relay  REQUEST_URI  uri "directory"    -> packify list of packed (id, data) records
//   peer data of a client: packify dict {"name", "pubkey" (X25519), "vk" (Ed25519)}
//
// The sealed frame is a whole netaio message, encoded: NOTIFY_URI with uri
// "dm/<from>/<to>" and the text as content, put through X25519CipherPlugin
// (crypto_box to the recipient's "pubkey", encrypt_uri on) and then
// Ed25519AuthPlugin (the sender's signature over type, fields and ciphertext).
//
// Why the plugins are applied here, at the application level, and not as the
// per-call inner layer of client.request(): a node fills plugin_context::peer with
// the peer on the other end of the connection - for a chat client that is always
// the relay. The box must be addressed to a third party (the recipient), and the
// recipient must open it with the keys of yet another party (the sender), so the
// client runs the same layer functions the nodes use (netaio::detail::seal_layer /
// open_layer) with a plugin_context naming that party, and carries the sealed
// frame as the content of an ordinary message to the relay.
//
// What the relay can and cannot do: it sees who talks to whom, when and how much,
// and may drop or delay messages. It cannot read a message (crypto_box to the
// recipient), change one (the signature and the box's MAC fail), re-label its
// sender (the frame verifies only under the real sender's pinned key and opens
// only with the real sender's pubkey), replay one (Ed25519AuthPlugin's replay
// cache and the box's nonce cache refuse it; a capture older than the 60 s
// freshness window is stale) or send a client's frame back to it (refused as
// reflected). Each such frame is counted as a rejection and never reaches
// on_message. Caveat, trust on first use: keys are learned from the relay the
// first time a name is seen and pinned from then on; a relay that lies at that
// first moment (a made-up key for a name) can impersonate that name to that client.
// Compare keys out of band (public_key()/verify_key() hex) to close that gap.
//
// GCC 12 note: coroutines below co_await only into named locals, and handlers that
// need state are plain (non-coroutine) lambdas.
#pragma once

#include "../peers_route.hpp"

#include <netaio/bytes.hpp>
#include <netaio/crypto.hpp>
#include <netaio/detail/pipeline.hpp>
#include <netaio/ed25519_auth_plugin.hpp>
#include <netaio/errors.hpp>
#include <netaio/logging.hpp>
#include <netaio/message.hpp>
#include <netaio/packify.hpp>
#include <netaio/peer.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>
#include <netaio/x25519_cipher_plugin.hpp>

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chat {

using netaio::bytes;
using netaio::bytes_view;
using netaio::Message;
using netaio::MessageType;
using netaio::Peer;

// ===================================================================== 1. names and wire

inline constexpr std::string_view send_prefix = "send/";       ///< client -> relay: "send/<to>"
inline constexpr std::string_view chat_prefix = "chat/";       ///< relay -> client: "chat/<from>"
inline constexpr std::string_view directory_uri = "directory";  ///< the relay's key directory
inline constexpr std::size_t max_name_size = 32;
inline constexpr std::size_t max_text_size = 4096;  ///< keeps every envelope far below netaio's body limit

/// Names double as peer ids and go into uris: 1-32 of [A-Za-z0-9_-].
inline bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > max_name_size) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

/// The uri inside the sealed frame: binds sender and recipient under the signature and the box.
inline std::string inner_uri(std::string_view from, std::string_view to) {
    return "dm/" + std::string(from) + "/" + std::string(to);
}

/// `text` after `prefix` when it starts with it.
inline std::optional<std::string> after_prefix(bytes_view text, std::string_view prefix) {
    if (text.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), text.begin())) return std::nullopt;
    return std::string(text.begin() + static_cast<std::ptrdiff_t>(prefix.size()), text.end());
}

/// Whether `needle` occurs anywhere in `haystack` (the plaintext checks of the demo and test).
inline bool contains(bytes_view haystack, bytes_view needle) {
    if (needle.empty()) return true;
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

/// The relay's NOTIFY_URI for a sealed frame from `sender` (id and data only).
inline Message make_notify(const Peer& sender, bytes_view sealed, const netaio::DefaultPeerPlugin& peer_plugin) {
    Peer record;
    record.id = sender.id;
    record.data = sender.data;
    netaio::packify::list parts;
    parts.items.emplace_back(peer_plugin.pack(record));
    parts.items.emplace_back(sealed);
    const std::string uri = std::string(chat_prefix) + netaio::to_string(sender.id.value_or(bytes()));
    return Message::prepare(netaio::Body::prepare(netaio::packify::pack(netaio::packify::value(std::move(parts))), uri),
                            MessageType::NOTIFY_URI);
}

/// The parts of a NOTIFY_URI from the relay.
struct notify_parts {
    std::string sender;  ///< from the uri "chat/<sender>"
    bytes record;        ///< the relay's packed (id, data) record of the sender
    bytes sealed;        ///< the sealed frame
};

/// Split a NOTIFY_URI; nullopt when it is not one the relay makes.
inline std::optional<notify_parts> parse_notify(const Message& m) {
    if (m.type() != MessageType::NOTIFY_URI) return std::nullopt;
    std::optional<std::string> sender = after_prefix(m.body.uri, chat_prefix);
    if (!sender || !valid_name(*sender)) return std::nullopt;
    std::error_code ec;
    const netaio::packify::value v = netaio::packify::unpack(m.body.content, {}, ec);
    const netaio::packify::list* parts = ec ? nullptr : v.get_if<netaio::packify::list>();
    if (!parts || parts->items.size() != 2) return std::nullopt;
    const bytes* record = parts->items[0].get_if<bytes>();
    const bytes* sealed = parts->items[1].get_if<bytes>();
    if (!record || !sealed) return std::nullopt;
    return notify_parts{std::move(*sender), *record, *sealed};
}

/// A sender's record as a client keeps it: id and data, the data a packify dict
/// with 32-byte "pubkey" and "vk". nullopt for anything else.
inline std::optional<Peer> contact_record(const Peer& p, const netaio::DefaultPeerPlugin& peer_plugin) {
    if (!p.id || !p.data || !valid_name(netaio::to_string(*p.id))) return std::nullopt;
    std::error_code ec;
    const netaio::packify::value data = peer_plugin.parse_data(p, ec);
    const netaio::packify::dict* d = ec ? nullptr : data.get_if<netaio::packify::dict>();
    if (!d) return std::nullopt;
    for (const char* key : {netaio::X25519CipherPlugin::pubkey_data_key, "vk"}) {
        const netaio::packify::value* k = d->find(netaio::packify::value(key));
        const bytes* raw = k ? k->get_if<bytes>() : nullptr;
        if (!raw || raw->size() != 32) return std::nullopt;
    }
    Peer record;
    record.id = p.id;
    record.data = p.data;
    return record;
}

/// Adversary helper (demo, tests): flip one ciphertext byte inside the sealed frame
/// of a NOTIFY_URI and fix every CRC, as a relay that wants the change to go
/// unnoticed would. False when `notify` is not a relay notification.
inline bool flip_sealed_byte(Message& notify, const netaio::DefaultPeerPlugin& peer_plugin) {
    std::optional<notify_parts> parts = parse_notify(notify);
    if (!parts) return false;
    std::error_code ec;
    Message inner = Message::decode(parts->sealed, ec);
    const Peer sender = peer_plugin.unpack(parts->record, ec);
    if (ec || inner.body.content.empty()) return false;
    inner.body.content.back() ^= 0x01;
    inner = Message::prepare(std::move(inner.body), inner.type(), std::move(inner.auth_data));  // valid CRC again
    notify = make_notify(sender, inner.encode(), peer_plugin);
    return true;
}

/// Adversary helper (demo, tests): present a NOTIFY_URI as coming from `claimed`.
inline bool relabel_sender(Message& notify, const Peer& claimed, const netaio::DefaultPeerPlugin& peer_plugin) {
    std::optional<notify_parts> parts = parse_notify(notify);
    if (!parts) return false;
    notify = make_notify(claimed, parts->sealed, peer_plugin);
    return true;
}

// ================================================================================ 2. relay

/// One frame as the relay saw it (encoded exactly as on the wire: no outer layer).
struct relay_frame {
    enum class direction { received, forwarded };
    direction dir;
    std::string from;  ///< the sending client's id
    std::string to;    ///< the recipient's id
    bytes frame;       ///< the whole encoded message
    bytes sealed;      ///< the sealed part inside it (what a client made)
};

struct relay_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  ///< 0: any free port (see port())
    netaio::logger log{};
    std::chrono::milliseconds stop_timeout{500};
};

/// The relay: peer management (who is connected, with which public keys), the
/// "_peers" and "directory" routes, and forwarding. Not copyable or movable (its
/// handlers refer to it).
class relay {
public:
    relay(asio::any_io_executor ex, const relay_options& o) : server_(std::move(ex), server_options(o)) {
        crud::install_peer_routes(server_);  // manage_peers_automatically + (REQUEST_URI, "_peers")
        server_.on({MessageType::REQUEST_URI, std::string(directory_uri)},
                   [this](const Message& m) { return directory(m); });
        server_.on(MessageType::PUBLISH_URI,
                   [this](const Message& m, const netaio::tcp_connection& c) { return forward(m, c); });
    }
    relay(const relay&) = delete;
    relay& operator=(const relay&) = delete;

    /// Observer: every frame the relay forwards, as received and as sent.
    std::function<void(const relay_frame&)> on_frame;
    /// Adversary hook (tests, the demo's attacks): may change a NOTIFY_URI before it leaves.
    std::function<void(Message& notify)> tamper;

    /// Bind now and serve in the background. Throws std::system_error.
    void start() { server_.start(); }
    std::uint16_t port() const { return server_.local_port(); }
    asio::awaitable<void> stop() { return server_.stop(); }
    netaio::TCPServer& server() noexcept { return server_; }
    std::uint64_t forwarded() const noexcept { return forwarded_; }

    /// Send any NOTIFY_URI to the client `to` (what a malicious relay can do, e.g.
    /// replay a recorded one). False when `to` is not connected.
    bool push(std::string_view to, const Message& notify) {
        const Peer* peer = server_.peers().by_id(netaio::to_bytes(to));
        std::optional<netaio::tcp_connection> conn = peer ? connection_of(*peer) : std::nullopt;
        if (!conn) return false;
        observe(relay_frame::direction::forwarded, "", std::string(to), notify, {});
        return server_.send(*conn, notify);
    }

private:
    static netaio::tcp_server_options server_options(const relay_options& o) {
        netaio::tcp_server_options so;
        so.host = o.host;
        so.port = o.port;
        so.log = o.log;
        so.stop_timeout = o.stop_timeout;
        so.logger_name = "chat.relay";
        so.local_peer = crud::make_local_peer("relay");  // peer management needs an identity
        return so;
    }

    /// The connection a peer is bound to (on TCP a peer's address is its connection).
    std::optional<netaio::tcp_connection> connection_of(const Peer& peer) const {
        for (const netaio::tcp_connection& c : server_.clients())
            if (peer.addrs.count(c.remote())) return c;
        return std::nullopt;
    }

    /// Every peer with data, as packed (id, data) records: the clients' public keys.
    Message directory(const Message& m) const {
        netaio::packify::list records;
        for (const bytes& id : server_.peers().ids()) {
            const Peer* p = server_.peers().by_id(id);
            if (!p || !p->data) continue;
            Peer record;
            record.id = p->id;
            record.data = p->data;
            records.items.emplace_back(peer_plugin_.pack(record));
        }
        return netaio::make_respond_uri_msg(netaio::packify::pack(netaio::packify::value(std::move(records))), m.body.uri);
    }

    /// PUBLISH_URI "send/<to>": re-address the sealed frame to <to>, naming the sender
    /// by the id its connection advertised (never by anything in the frame).
    std::optional<Message> forward(const Message& m, const netaio::tcp_connection& c) {
        // A sealed frame of the longest text is about 4.2 kB; refuse more before any work.
        if (m.body.content.size() > max_text_size + 1024) return netaio::make_error_msg("too long", m.body.uri);
        std::optional<std::string> to = after_prefix(m.body.uri, send_prefix);
        if (!to || !valid_name(*to)) return netaio::make_not_found_msg("unknown uri", m.body.uri);
        const Peer* from = server_.peers().by_address(c.remote());
        if (!from || !from->id) return netaio::make_error_msg("advertise first", m.body.uri);
        const Peer* target = server_.peers().by_id(netaio::to_bytes(*to));
        std::optional<netaio::tcp_connection> conn = target ? connection_of(*target) : std::nullopt;
        if (!conn) return netaio::make_not_found_msg("no such peer", m.body.uri);

        const std::string from_id = netaio::to_string(*from->id);
        observe(relay_frame::direction::received, from_id, *to, m, m.body.content);
        Message notify = make_notify(*from, m.body.content, peer_plugin_);
        if (tamper) tamper(notify);
        observe(relay_frame::direction::forwarded, from_id, *to, notify, m.body.content);
        if (!server_.send(*conn, notify)) return netaio::make_error_msg("not forwarded", m.body.uri);
        ++forwarded_;
        return netaio::make_ok_msg("forwarded", m.body.uri);
    }

    void observe(relay_frame::direction dir, std::string from, std::string to, const Message& m, bytes_view sealed) {
        if (!on_frame) return;
        const relay_frame f{dir, std::move(from), std::move(to), m.encode(), bytes(sealed.begin(), sealed.end())};
        on_frame(f);
    }

    netaio::DefaultPeerPlugin peer_plugin_;
    netaio::TCPServer server_;
    std::uint64_t forwarded_ = 0;
};

// =============================================================================== 3. client

/// A message that arrived intact.
struct chat_message {
    std::string from;
    std::string text;
};

struct client_options {
    std::string name;  ///< 1-32 of [A-Za-z0-9_-]; the peer id
    std::string host = "127.0.0.1";
    std::uint16_t port = 8888;
    std::chrono::milliseconds timeout{5000};  ///< connect and every request to the relay
    netaio::logger log{};
};

/// A chat client: its own key pairs (fresh random seeds, never sent anywhere), the
/// contacts it has pinned, and the sealing and opening of messages.
class client {
public:
    /// Throws std::invalid_argument for a bad name.
    client(asio::any_io_executor ex, client_options o)
        : name_(checked_name(std::move(o.name))),
          box_(std::make_shared<netaio::X25519CipherPlugin>(box_options())),
          signer_(std::make_shared<netaio::Ed25519AuthPlugin>(signer_options())),
          layer_{netaio::any_auth_plugin(signer_), netaio::any_cipher_plugin(box_)},
          node_(std::move(ex), node_options(o)) {
        // Whatever the relay pushes is NOTIFY_URI "chat/<from>"; anything else waits unread.
        node_.on(MessageType::NOTIFY_URI, [this](const Message& m) { receive(m); });
        node_.manage_peers_automatically();  // advertise our keys on connect
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// Called for every message that opened and verified.
    std::function<void(const chat_message&)> on_message;

    /// Connect to the relay; peer management advertises name and public keys.
    asio::awaitable<void> connect() { return node_.connect(); }
    void close() { node_.close_all(); }

    /// Ask the relay for its directory and pin every name not seen before (trust on
    /// first use). A name that comes back with other keys keeps the first ones
    /// (counted as "key changed"). Returns the number of contacts.
    asio::awaitable<std::size_t> refresh_directory() {
        const std::string uri(directory_uri);
        const Message reply = co_await node_.request(uri);
        std::error_code ec;
        const netaio::packify::value v = netaio::packify::unpack(reply.body.content, {}, ec);
        const netaio::packify::list* records = ec ? nullptr : v.get_if<netaio::packify::list>();
        if (reply.type() != MessageType::RESPOND_URI || !records)
            throw netaio::error(netaio::errc::malformed_body, "the relay's directory is not a list of records");
        for (const netaio::packify::value& item : records->items) {
            const bytes* packed = item.get_if<bytes>();
            if (!packed) continue;
            std::error_code pec;
            const Peer p = peer_plugin_.unpack(*packed, pec);
            if (!pec) learn(p);
        }
        co_return contacts_.size();
    }

    /// Refresh the directory until every name in `names` is a contact, or `limit`
    /// passes (false).
    asio::awaitable<bool> wait_for_contacts(std::vector<std::string> names, std::chrono::milliseconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        asio::steady_timer pause(node_.get_executor());
        for (;;) {
            const std::size_t known = co_await refresh_directory();
            (void)known;
            if (std::all_of(names.begin(), names.end(), [this](const std::string& n) { return contacts_.count(n) > 0; }))
                co_return true;
            if (std::chrono::steady_clock::now() >= until) co_return false;
            pause.expires_after(std::chrono::milliseconds(20));
            co_await pause.async_wait(asio::use_awaitable);
        }
    }

    /// Seal `text` for `to` and hand it to the relay; completes when the relay has
    /// forwarded it. Throws netaio::error: missing_peer_data (no such contact, even
    /// after a directory refresh), content_too_long, not_connected / timed_out, or
    /// std::runtime_error when the relay refuses it.
    asio::awaitable<void> send(std::string to, std::string text) {
        if (text.size() > max_text_size) throw netaio::error(netaio::errc::content_too_long, "message over 4096 bytes");
        if (!contacts_.count(to)) {
            const std::size_t known = co_await refresh_directory();
            (void)known;
        }
        auto it = contacts_.find(to);
        if (it == contacts_.end()) throw netaio::error(netaio::errc::missing_peer_data, "unknown peer '" + to + "'");
        const bytes sealed = seal(it->second, text);
        const std::string uri = std::string(send_prefix) + to;
        const Message reply = co_await node_.request_as(MessageType::PUBLISH_URI, uri, sealed);
        if (reply.type() != MessageType::OK)
            throw std::runtime_error("relay refused the message to " + to + ": " + netaio::to_string(reply.body.content));
    }

    /// The sealed frame for `to` (exposed for the demo and tests).
    bytes seal(const Peer& to, std::string_view text) const {
        Message m = Message::prepare(netaio::Body::prepare(text, inner_uri(name_, netaio::to_string(to.id.value_or(bytes())))),
                                     MessageType::NOTIFY_URI);
        const netaio::plugin_context ctx(&to, &peer_plugin_);
        netaio::detail::seal_layer(m, layer_, ctx);  // box to `to`, then sign: see the header comment
        return m.encode();
    }

    const std::string& name() const noexcept { return name_; }
    /// X25519 public key (the "pubkey" others box to) and Ed25519 verify key ("vk").
    bytes public_key() const { return bytes(box_->public_key().begin(), box_->public_key().end()); }
    bytes verify_key() const { return signer_->verify_key(); }
    /// The pinned contacts, by name.
    const std::map<std::string, Peer>& contacts() const noexcept { return contacts_; }
    /// Messages delivered to on_message, and frames refused (by reason and in total).
    std::uint64_t delivered() const noexcept { return delivered_; }
    const std::map<std::string, std::uint64_t>& rejections() const noexcept { return rejections_; }
    std::uint64_t rejected() const noexcept { return rejected_; }
    std::uint64_t rejected(std::string_view reason) const {
        auto it = rejections_.find(std::string(reason));
        return it == rejections_.end() ? 0 : it->second;
    }
    netaio::TCPClient& node() noexcept { return node_; }

    /// Rejection reasons of the client's own checks (plugin failures are counted
    /// under their netaio::errc message, e.g. "authentication failed").
    static constexpr std::string_view malformed = "malformed notification";
    static constexpr std::string_view unknown_sender = "unknown sender";
    static constexpr std::string_view misaddressed = "wrong sender or recipient inside";
    static constexpr std::string_view key_changed = "key changed";

private:
    static std::string checked_name(std::string name) {
        if (!valid_name(name)) throw std::invalid_argument("chat: a name is 1-32 of A-Z a-z 0-9 _ -");
        return name;
    }
    static netaio::x25519_cipher_options box_options() {
        netaio::x25519_cipher_options o;
        o.seed = netaio::crypto::random_bytes(32);
        o.encrypt_uri = true;  // the inner uri (who to whom) is boxed too
        return o;
    }
    static netaio::ed25519_auth_options signer_options() {
        netaio::ed25519_auth_options o;
        o.seed = netaio::ed25519_new_seed();  // a separate key pair for signing
        o.trust_peer_data = true;             // verify with the sender's pinned "vk"
        return o;
    }
    netaio::tcp_client_options node_options(const client_options& o) const {
        netaio::tcp_client_options co;
        co.host = o.host;
        co.port = o.port;
        co.connect_timeout = o.timeout;
        co.request_timeout = o.timeout;
        co.log = o.log;
        co.logger_name = "chat." + name_;
        netaio::packify::dict extra;
        extra.set(netaio::packify::value("name"), netaio::packify::value(name_));
        extra.set(netaio::packify::value("vk"), netaio::packify::value(signer_->verify_key()));
        co.local_peer = box_->local_peer(name_, std::move(extra));  // data = {name, vk, pubkey}
        return co;
    }

    void reject(std::string_view reason) {
        ++rejected_;
        ++rejections_[std::string(reason)];
    }

    /// Pin a record from the relay if its name is new; a known name keeps its keys.
    const Peer* learn(const Peer& p) {
        std::optional<Peer> record = contact_record(p, peer_plugin_);
        if (!record) return nullptr;
        const std::string id = netaio::to_string(*record->id);
        if (id == name_) return nullptr;
        auto it = contacts_.find(id);
        if (it == contacts_.end()) return &contacts_.emplace(id, std::move(*record)).first->second;
        if (it->second.data != record->data) reject(key_changed);
        return &it->second;
    }

    /// A NOTIFY_URI from the relay: open it with the claimed sender's pinned keys.
    void receive(const Message& notify) {
        std::optional<notify_parts> parts = parse_notify(notify);
        if (!parts) return reject(malformed);
        const Peer* sender = nullptr;
        if (auto it = contacts_.find(parts->sender); it != contacts_.end()) {
            sender = &it->second;  // pinned: the record the relay sent along is ignored
        } else {
            std::error_code ec;
            const Peer offered = peer_plugin_.unpack(parts->record, ec);
            if (!ec && offered.id && netaio::to_string(*offered.id) == parts->sender) sender = learn(offered);
        }
        if (!sender) return reject(unknown_sender);

        std::error_code ec;
        Message inner = Message::decode(parts->sealed, ec);
        if (ec || inner.type() != MessageType::NOTIFY_URI) return reject(malformed);
        const netaio::plugin_context ctx(sender, &peer_plugin_);
        // Signature by the sender's pinned vk (fresh, not replayed, not ours), then the box.
        const netaio::detail::open_result opened = netaio::detail::open_layer(inner, layer_, ctx);
        if (!opened) return reject(opened.error.message());
        if (netaio::to_string(inner.body.uri) != inner_uri(parts->sender, name_)) return reject(misaddressed);

        ++delivered_;
        if (on_message) {
            const chat_message message{parts->sender, netaio::to_string(inner.body.content)};
            on_message(message);
        }
    }

    std::string name_;
    std::shared_ptr<netaio::X25519CipherPlugin> box_;  // our X25519 secret: opens what is boxed to us
    std::shared_ptr<netaio::Ed25519AuthPlugin> signer_;  // our Ed25519 secret, and the pins of the others' vk
    netaio::handler_plugins layer_;
    netaio::DefaultPeerPlugin peer_plugin_;
    std::map<std::string, Peer> contacts_;  // name -> pinned (id, data)
    std::uint64_t delivered_ = 0;
    std::uint64_t rejected_ = 0;
    std::map<std::string, std::uint64_t> rejections_;
    netaio::TCPClient node_;  // last: destroyed first, while the state its handler uses still exists
};

}  // namespace chat
