// netaio/routing.hpp - handler keys and the routing table (sans-I/O).
//
// A handler is registered under a key of one of three shapes (BEHAVIOUR B4-B6):
//     MessageType::OK                                  every OK message
//     {MessageType::REQUEST_URI, "echo"}               REQUEST_URI for uri "echo"
//     {MessageType::REQUEST_URI, "echo", {"1.2.3.4", 5}} ... from that peer only
// For a received message the candidates are tried most specific first; the first
// key present in either table wins, an ephemeral ("once") entry is preferred over
// a permanent one for the same key and is removed as it is selected.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/message.hpp>
#include <netaio/message_type.hpp>
#include <netaio/peer.hpp>
#include <netaio/version.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>

NETAIO_BEGIN_NAMESPACE

struct route_key {
    MessageType type = MessageType::REQUEST_URI;
    std::optional<bytes> uri;
    std::optional<peer_address> peer;

    route_key(MessageType t) : type(t) {}  // NOLINT(google-explicit-constructor)
    template <message_type_enum E>
    route_key(E t) : type(static_cast<MessageType>(static_cast<std::uint8_t>(t))) {}  // NOLINT
    route_key(MessageType t, byte_source u) : type(t), uri(u.to_bytes()) {}
    route_key(MessageType t, byte_source u, peer_address p) : type(t), uri(u.to_bytes()), peer(std::move(p)) {}
    template <message_type_enum E>
    route_key(E t, byte_source u) : route_key(static_cast<MessageType>(static_cast<std::uint8_t>(t)), u) {}
    template <message_type_enum E>
    route_key(E t, byte_source u, peer_address p)
        : route_key(static_cast<MessageType>(static_cast<std::uint8_t>(t)), u, std::move(p)) {}

    friend bool operator==(const route_key&, const route_key&) = default;
};

namespace detail {

/// A non-owning view of a key, so lookups need no allocation.
struct route_view {
    MessageType type;
    const bytes_view* uri;       // nullptr: no uri in the key
    const peer_address* peer;    // nullptr: no peer in the key

    auto as_tuple() const {
        const std::string_view uri_text = uri ? std::string_view(reinterpret_cast<const char*>(uri->data()), uri->size())
                                              : std::string_view();
        const std::string_view host = peer ? std::string_view(peer->host) : std::string_view();
        return std::make_tuple(static_cast<int>(type), uri != nullptr, uri_text, peer != nullptr, host,
                               peer ? peer->port : std::uint16_t{0});
    }
};

struct route_key_less {
    using is_transparent = void;
    static auto tuple_of(const route_key& k, bytes_view& scratch) {
        if (k.uri) scratch = *k.uri;
        return route_view{k.type, k.uri ? &scratch : nullptr, k.peer ? &*k.peer : nullptr}.as_tuple();
    }
    bool operator()(const route_key& a, const route_key& b) const {
        bytes_view sa, sb;
        return tuple_of(a, sa) < tuple_of(b, sb);
    }
    bool operator()(const route_key& a, const route_view& b) const {
        bytes_view sa;
        return tuple_of(a, sa) < b.as_tuple();
    }
    bool operator()(const route_view& a, const route_key& b) const {
        bytes_view sb;
        return a.as_tuple() < tuple_of(b, sb);
    }
};

}  // namespace detail

/// Two tables (permanent and ephemeral) of shared, immutable entries.
template <class Entry>
class routing_table {
public:
    using entry_ptr = std::shared_ptr<const Entry>;

    /// Register (or replace) a permanent entry.
    void add(route_key key, entry_ptr entry) { permanent_[std::move(key)] = std::move(entry); }
    /// Register (or replace) an entry used once.
    void add_ephemeral(route_key key, entry_ptr entry) { ephemeral_[std::move(key)] = std::move(entry); }
    /// Remove; false (and no effect) when absent.
    bool remove(const route_key& key) { return permanent_.erase(key) > 0; }
    bool remove_ephemeral(const route_key& key) { return ephemeral_.erase(key) > 0; }

    /// The entry for a received message, or nullptr (the default handler applies).
    entry_ptr take(MessageType type, bytes_view uri, const peer_address& from) {
        const detail::route_view candidates[] = {{type, &uri, &from}, {type, &uri, nullptr}, {type, nullptr, nullptr}};
        for (const auto& key : candidates) {
            if (auto it = ephemeral_.find(key); it != ephemeral_.end()) {
                entry_ptr found = std::move(it->second);
                ephemeral_.erase(it);
                return found;
            }
            if (auto it = permanent_.find(key); it != permanent_.end()) return it->second;
        }
        return nullptr;
    }

    std::size_t size() const noexcept { return permanent_.size(); }
    std::size_t ephemeral_size() const noexcept { return ephemeral_.size(); }

private:
    std::map<route_key, entry_ptr, detail::route_key_less> permanent_;
    std::map<route_key, entry_ptr, detail::route_key_less> ephemeral_;
};

NETAIO_END_NAMESPACE
