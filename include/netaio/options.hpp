// netaio/options.hpp - configuration aggregates of the nodes, with documented defaults.
//
//     netaio::TCPServer server(io.get_executor(), {.port = 0, .connection = {.idle_timeout = 30s}});
//
// (Designated initializers must follow the members' order: host, port, connection, ...)
//
// Defaults follow netaio 0.0.9 where it has one (port 8888, request timeout 10 s)
// and docs/design RELIABILITY §5 for the limits Python does not have.
#pragma once

#include <netaio/handler.hpp>
#include <netaio/logging.hpp>
#include <netaio/message.hpp>
#include <netaio/peer.hpp>
#include <netaio/peer_table.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/version.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

NETAIO_BEGIN_NAMESPACE

using namespace std::chrono_literals;

/// What to do when a connection's outbound queue is full while pushing a
/// notification or broadcast (handler replies never drop: the connection stops
/// reading until its queue drains instead).
enum class queue_full_policy {
    drop_message,      ///< drop this message for this recipient and count errc::queue_full
    close_connection,  ///< close the slow connection (errc::queue_full)
};

/// Limits and deadlines shared by every TCP connection.
struct tcp_connection_options {
    frame_limits limits{};                              ///< frame and auth size caps (checked before allocating)
    std::chrono::milliseconds frame_timeout = 10s;      ///< a frame must complete within this once started (slowloris)
    std::chrono::milliseconds idle_timeout = 300s;      ///< close when no frame arrives for this long (0 = never)
    std::chrono::milliseconds write_timeout = 30s;      ///< a write must complete within this
    std::size_t max_queued_messages = 1000;             ///< outbound queue cap, in messages
    std::size_t max_queued_bytes = 4u << 20;            ///< outbound queue cap, in bytes
    queue_full_policy on_queue_full = queue_full_policy::drop_message;
    /// Bytes asked for per read. Never more than the largest frame `limits` allow
    /// minus what is already buffered, so the read buffer stays within the frame cap.
    std::size_t read_chunk = 64u << 10;
    bool no_delay = true;                               ///< TCP_NODELAY (request/response latency)
    std::size_t send_buffer_size = 0;                   ///< SO_SNDBUF in bytes (0 = the system's default)
    std::size_t receive_buffer_size = 0;                ///< SO_RCVBUF in bytes (0 = the system's default)
};

/// Called for every refused frame or closed connection, with its reason.
using reject_callback = std::function<void(errc reason, const peer_address& from)>;

/// Auth-error handler: given the failing plugin and the received message, the reply
/// to send (plaintext, BEHAVIOUR B33) or nullopt. Default: default_auth_error_reply.
using auth_error_handler = std::function<std::optional<Message>(const any_auth_plugin& failing, const Message& received)>;

struct tcp_server_options {
    std::string host = "0.0.0.0";  ///< interface to bind ("::" for IPv6, "127.0.0.1", ...)
    std::uint16_t port = 8888;     ///< 0 picks a free port (see local_port())
    tcp_connection_options connection{};
    std::size_t max_connections = 10000;        ///< more are accepted and closed at once (errc::over_capacity)
    std::size_t max_connections_per_ip = 256;   ///< per source address
    std::size_t max_consecutive_bad_frames = 8; ///< checksum failures in a row before closing (errc::protocol_errors)
    /// ERROR "invalid message" replies to checksum failures, per connection: at most
    /// this many in one error_reply_window (the window opens with its first reply).
    /// Bad frames past it are still counted (errc::checksum_mismatch, plus
    /// errc::error_reply_suppressed for the reply left unsent) but not answered. 0: never reply.
    std::size_t max_error_replies = 10;
    std::chrono::milliseconds error_reply_window = 1s;  ///< see max_error_replies
    /// subscribe() refuses a connection's subscription past this many topics
    /// (errc::too_many_subscriptions); its existing subscriptions stay.
    std::size_t max_subscriptions_per_connection = 1024;
    /// subscribe() refuses a topic nobody subscribes to yet once this many topics
    /// have subscribers (errc::too_many_subscriptions).
    std::size_t max_topics = 65536;
    /// How long stop() lets running handlers finish and queued replies drain before
    /// it closes every connection (the listener closes at once).
    std::chrono::milliseconds stop_timeout = 5s;
    /// A coroutine handler still running after this is abandoned (asked to stop by
    /// cancellation) and answered with ERROR "handler timed out" (errc::handler_timeout),
    /// so it cannot hold its connection. 0 = no deadline. A plain function handler
    /// runs to completion: it blocks the executor and cannot be interrupted.
    std::chrono::milliseconds handler_timeout = 30s;
    bool use_auth = true;    ///< apply the outer auth plugin (Python: start(use_auth=...))
    bool use_cipher = true;  ///< apply the outer cipher plugin
    any_auth_plugin auth_plugin{};    ///< outer auth layer (may be empty)
    any_cipher_plugin cipher_plugin{};  ///< outer cipher layer (may be empty)
    DefaultPeerPlugin peer_plugin{};
    logger log{};                     ///< silent unless given a sink
    std::string logger_name = "netaio.server";
    reject_callback on_reject{};      ///< observe refused frames and closed connections
    auth_error_handler on_auth_error{};  ///< empty: default_auth_error_reply
    std::optional<Peer> local_peer{};    ///< this node's identity for peer management
    peer_table_options peers{};          ///< caps of the peer table
    clock_source clock{};                ///< peer times (injectable for tests)
};

// ---- TCP client: timeout handlers and automatic reconnect ------------------------------

template <message_type_enum E>
class basic_tcp_client;  // netaio/tcp_client.hpp

/// What netaio's request() hands its timeout handler besides the node (BEHAVIOUR B64):
/// the context of the request that timed out.
struct timeout_context {
    timeout_context() = default;  // not an aggregate: safe as a temporary in co_await expressions (GCC 12)
    bytes uri;                                ///< the request's uri, as sent before any cipher
    std::chrono::milliseconds timeout{0};     ///< its timeout
    peer_address server;                      ///< where it was sent (UDP: the destination)
    std::vector<MessageType> response_types;  ///< the reply types it accepted (netaio: its handler keys)
};

/// A request timed out (BEHAVIOUR B64, B67, B91): netaio's timeout-handler arguments
/// timeout_type, server, error and context.
struct timeout_event {
    timeout_event() = default;  // not an aggregate (see timeout_context)
    std::string timeout_type;   ///< "request_timeout"
    peer_address server;
    std::error_code error;      ///< errc::timed_out
    /// netaio's TimeoutError text, "Request for URI <uri> timed out after <seconds>s":
    /// the uri as UTF-8 with invalid bytes replaced by U+FFFD, the seconds as Python
    /// prints a float (0.2 -> "0.2", 10 s -> "10.0"); UDP adds " @ host:port" after the uri.
    std::string message;
    timeout_context context;
};

/// A plain timeout handler (UDPNode; also one of the TCP client's forms).
using timeout_handler = std::function<void(const timeout_event&)>;

/// A TCP client's timeout handler, in any of netaio's forms (BEHAVIOUR B67):
///
///     void(const timeout_event&)                               runs before the request raises
///     void(basic_tcp_client<E>&, const timeout_event&)         the same, with the client
///     asio::awaitable<void>(basic_tcp_client<E>&, timeout_event)  started in the background;
///     asio::awaitable<void>(timeout_event)                         the request raises at once
///
/// A plain handler that throws is logged (ERROR) and the request raises errc::timed_out
/// as usual. A coroutine handler runs on the client's executor with a client handle of
/// its own (valid while it runs, whatever happens to the caller's client object); its
/// exceptions are logged, never lost; cancel_timeout_handler_tasks() cancels and awaits
/// those still running, close(server) cancels those for that server, and close_all()
/// and the client's destructor cancel them all. A call made through the client handle
/// a coroutine handler received never cancels that handler itself, so a handler may
/// `client.close(ev.server)` and then `co_await client.connect(...)`.
template <message_type_enum E>
class basic_tcp_timeout_handler {
public:
    using client_type = basic_tcp_client<E>;
    using plain_fn = std::function<void(const timeout_event&)>;
    using client_fn = std::function<void(client_type&, const timeout_event&)>;
    using coroutine_fn = std::function<asio::awaitable<void>(client_type&, timeout_event)>;
    using target_type = std::variant<std::monostate, plain_fn, client_fn, coroutine_fn>;

    basic_tcp_timeout_handler() = default;
    basic_tcp_timeout_handler(std::nullptr_t) {}
    /// Any callable of one of the four forms (the form is chosen from its signature).
    template <class F>
        requires(!std::is_same_v<std::decay_t<F>, basic_tcp_timeout_handler> &&
                 (std::is_invocable_v<std::decay_t<F>&, client_type&, timeout_event> ||
                  std::is_invocable_v<std::decay_t<F>&, timeout_event>))
    basic_tcp_timeout_handler(F&& f) {
        using D = std::decay_t<F>;
        if constexpr (std::is_invocable_v<D&, client_type&, timeout_event>) {
            if constexpr (std::is_same_v<std::invoke_result_t<D&, client_type&, timeout_event>, asio::awaitable<void>>)
                fn_ = coroutine_fn(std::forward<F>(f));
            else
                fn_ = client_fn(std::forward<F>(f));
        } else if constexpr (std::is_same_v<std::invoke_result_t<D&, timeout_event>, asio::awaitable<void>>) {
            // Not a coroutine itself: it returns the awaitable the handler makes.
            fn_ = coroutine_fn([g = D(std::forward<F>(f))](client_type&, timeout_event event) mutable { return g(std::move(event)); });
        } else {
            fn_ = plain_fn(std::forward<F>(f));
        }
    }

    explicit operator bool() const noexcept { return fn_.index() != 0; }
    /// The handler, by form.
    const target_type& target() const noexcept { return fn_; }

private:
    target_type fn_;
};
using tcp_timeout_handler = basic_tcp_timeout_handler<MessageType>;

/// How the delay before each reconnect attempt is drawn from its ceiling
/// min(max_delay, initial_delay * multiplier^(attempt-1)).
enum class backoff_jitter {
    none,   ///< the ceiling itself (clients restarted together retry together)
    full,   ///< uniform in [0, ceiling]: spreads a restart storm best (the default)
    equal,  ///< ceiling/2 + uniform in [0, ceiling/2]: never less than half the ceiling
};

/// What the reconnect machinery did, for logs, metrics and tests.
enum class reconnect_event_kind {
    scheduled,    ///< an attempt will be made after `delay`
    failed,       ///< the attempt failed (`error`); another is scheduled unless attempts are exhausted
    reconnected,  ///< the attempt succeeded: the connection is back (counted in stats().reconnects)
    gave_up,      ///< max_attempts failed; no more attempts for this server
};
struct reconnect_event {
    reconnect_event_kind kind;
    peer_address server;               ///< a copy: a callback may keep the event
    /// Counted since the last connection to this server that proved itself (see
    /// reconnect_options::stable_after), not since this loss: 1 after a stable one.
    std::size_t attempt;
    std::chrono::milliseconds delay;   ///< scheduled: the wait before this attempt
    std::error_code error;             ///< failed: why
};
using reconnect_callback = std::function<void(const reconnect_event&)>;

/// Automatic reconnect of a TCP client (RELIABILITY E10, L8): opt-in. A connection
/// lost without close() (the server stopped or restarted, a reset, a write deadline,
/// a protocol error) is re-established with jittered exponential backoff; one the
/// client closed for idle_timeout is not. Requests pending on the lost connection
/// fail at once with errc::connection_lost; requests made while it is down fail at
/// once with errc::not_connected. A connection made again re-advertises under peer
/// management as connect() does (BEHAVIOUR B50). close(), close_all(), a successful
/// connect() to that server and the client's destruction end the attempts.
///
/// The attempt count, and so the backoff, carries over from one loss to the next:
/// a server that accepts and closes at once (one over its connection cap, say) is
/// retried ever more slowly. It starts over only once a connection has stayed up for
/// `stable_after` (one closed for a protocol error never counts), or after connect().
struct reconnect_options {
    bool enabled = false;
    std::chrono::milliseconds initial_delay = 100ms;  ///< ceiling of the first attempt (> 0)
    std::chrono::milliseconds max_delay = 5s;         ///< the ceiling never grows past this
    double multiplier = 2.0;                          ///< ceiling growth per attempt (>= 1)
    backoff_jitter jitter = backoff_jitter::full;
    std::size_t max_attempts = 0;                     ///< 0 = unbounded; counted as `attempt` is
    /// A connection lost after staying up this long had proved itself: the backoff
    /// starts over at attempt 1. Lost sooner, the next attempt continues the count.
    std::chrono::milliseconds stable_after = 5s;
    random_source random{};                           ///< jitter source (libsodium when empty; tests inject)
    reconnect_callback on_event{};                    ///< observe attempts (optional)
};

/// TCPClient options; defaults as netaio's TCPClient (BEHAVIOUR B48): server
/// 127.0.0.1:8888, requests time out after 10 s.
struct tcp_client_options {
    std::string host = "127.0.0.1";  ///< default server host
    std::uint16_t port = 8888;       ///< default server port
    /// A client keeps quiet connections open: no idle timeout by default.
    tcp_connection_options connection{.idle_timeout = std::chrono::milliseconds(0)};
    std::chrono::milliseconds connect_timeout = 10s;
    std::chrono::milliseconds request_timeout = 10s;  ///< default for request/create/update/delete
    std::size_t max_pending_requests = 1024;          ///< per connection (errc::too_many_pending)
    /// A coroutine handler (of server pushes) still running after this is abandoned;
    /// counted errc::handler_timeout, and receive_once() gets ERROR "handler timed out". 0 = none.
    std::chrono::milliseconds handler_timeout = 30s;
    bool use_auth = true;
    bool use_cipher = true;
    any_auth_plugin auth_plugin{};
    any_cipher_plugin cipher_plugin{};
    DefaultPeerPlugin peer_plugin{};
    logger log{};
    std::string logger_name = "netaio.client";
    reject_callback on_reject{};
    auth_error_handler on_auth_error{};
    std::optional<Peer> local_peer{};    ///< this node's identity for peer management
    peer_table_options peers{};          ///< caps of the peer table
    clock_source clock{};                ///< peer times (injectable for tests)
    /// Automatic reconnect of lost connections (off by default).
    reconnect_options reconnect{};
    /// netaio's timeout_error_handler (BEHAVIOUR B48, B67); set_timeout_handler() replaces
    /// it. A client with another message-type enum than MessageType takes only the plain
    /// form here (the others name TCPClient): give it the rest via set_timeout_handler().
    tcp_timeout_handler timeout_error_handler{};
};

/// Options of one send/broadcast/notify call.
struct send_options {
    bool use_auth = true;            ///< apply the node's outer auth plugin
    bool use_cipher = true;          ///< apply the node's outer cipher plugin
    handler_plugins plugins{};       ///< the inner layer for this call
};

/// Options of one request/create/update/delete call, set fluently:
///
///     co_await client.request("echo", "hi", request_options().to(server).timeout(500ms));
///
/// Not an aggregate on purpose: GCC 12 destroys aggregate temporaries twice when
/// they appear inside a co_await expression, and options are written exactly there.
class request_options {
public:
    request_options() = default;

    /// The server to ask (default: the client's default server).
    request_options& to(peer_address s) & { server_ = std::move(s); return *this; }
    request_options&& to(peer_address s) && { return std::move(to(std::move(s))); }
    /// How long to wait for the reply (0: the client's request_timeout, 10 s).
    request_options& timeout(std::chrono::milliseconds t) & { timeout_ = t; return *this; }
    request_options&& timeout(std::chrono::milliseconds t) && { return std::move(timeout(t)); }
    /// The inner plugin layer for this request and its reply (applied once each way).
    request_options& plugins(handler_plugins p) & { plugins_ = std::move(p); return *this; }
    request_options&& plugins(handler_plugins p) && { return std::move(plugins(std::move(p))); }
    /// Skip the client's outer auth / cipher plugin for this request.
    request_options& use_auth(bool on) & { use_auth_ = on; return *this; }
    request_options&& use_auth(bool on) && { return std::move(use_auth(on)); }
    request_options& use_cipher(bool on) & { use_cipher_ = on; return *this; }
    request_options&& use_cipher(bool on) && { return std::move(use_cipher(on)); }

    const std::optional<peer_address>& server() const noexcept { return server_; }
    std::chrono::milliseconds timeout() const noexcept { return timeout_; }
    const handler_plugins& plugins() const noexcept { return plugins_; }
    bool use_auth() const noexcept { return use_auth_; }
    bool use_cipher() const noexcept { return use_cipher_; }

private:
    std::optional<peer_address> server_;
    std::chrono::milliseconds timeout_{0};
    handler_plugins plugins_;
    bool use_auth_ = true;
    bool use_cipher_ = true;
};

/// Peer management settings (BEHAVIOUR B42, B71, B93, B96).
struct peer_management_options {
    std::string app_id = "netaio";                      ///< the uri of ADVERTISE_PEER / PEER_DISCOVERED / DISCONNECT
    std::chrono::milliseconds advertise_every = 20s;    ///< UDP: multicast period (floor 100 ms)
    std::chrono::milliseconds peer_timeout = 60s;       ///< UDP: peers silent this long are purged
    handler_plugins plugins{};                          ///< inner layer of the peer messages and their handlers
    std::vector<peer_address> static_peers{};           ///< UDP: also advertise to these (where multicast cannot reach)
};

/// What happened to a peer (for logs and tools such as netaio-cli).
enum class peer_event_kind { discovered, updated, removed };
struct peer_event {
    peer_event_kind kind;
    const Peer& peer;
    const peer_address& address;  ///< where the event came from (or the peer's last address)
};
using peer_callback = std::function<void(const peer_event&)>;

struct udp_node_options {
    std::string host = "0.0.0.0";           ///< bind address ("::" for IPv6)
    std::uint16_t port = 8888;              ///< 0 picks a free port (see local_port())
    std::string multicast_group = "224.0.0.1";  ///< IPv4 default as netaio; an IPv6 group (ff02::...) for IPv6
    /// Interface for multicast: an address ("127.0.0.1") or a name ("lo", "eth0");
    /// empty = the system default (IPv4 INADDR_ANY). Tests pin it to loopback.
    std::string multicast_interface{};
    int multicast_ttl = 1;                  ///< hops; 0 keeps datagrams on this host
    bool multicast_loopback = true;         ///< deliver our multicasts to sockets on this host
    bool join_multicast = true;             ///< join multicast_group on start()
    bool reuse_address = true;              ///< several nodes on one host may share the port
    /// Where multicasts go and are heard. Unset: this node's own port (netaio's
    /// way: every node on the same port). Set: a second, receive-only socket joins
    /// the group on that port (0 picks a free one, see discovery_port()), so nodes
    /// with different unicast ports on one host still hear each other.
    std::optional<std::uint16_t> multicast_port{};
    frame_limits limits{};
    /// Reply to malformed or unauthenticated datagrams as netaio does (checksum
    /// failure: ERROR "invalid message"; auth failure: the auth-error reply). Off by
    /// default: a node never reflects traffic toward unverified sources.
    bool reply_to_invalid = false;
    any_auth_plugin auth_plugin{};
    any_cipher_plugin cipher_plugin{};
    DefaultPeerPlugin peer_plugin{};
    std::optional<Peer> local_peer{};       ///< this node's identity for peer management
    peer_table_options peers{};
    clock_source clock{};                   ///< peer times (injectable for tests)
    std::chrono::milliseconds request_timeout = 10s;
    std::size_t max_pending_requests = 1024;
    /// A coroutine handler still running after this is abandoned (asked to stop) and
    /// the sender gets ERROR "handler timed out" (errc::handler_timeout). 0 = none.
    std::chrono::milliseconds handler_timeout = 30s;
    logger log{};
    std::string logger_name = "netaio.node";
    reject_callback on_reject{};
    auth_error_handler on_auth_error{};
};

NETAIO_END_NAMESPACE
