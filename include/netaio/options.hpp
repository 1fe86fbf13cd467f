// netaio/options.hpp - configuration aggregates of the nodes, with documented defaults.
//
//     netaio::TCPServer server(io.get_executor(), {.port = 0, .idle_timeout = 30s});
//
// Defaults follow netaio 0.0.9 where it has one (port 8888, request timeout 10 s)
// and docs/design RELIABILITY §5 for the limits Python does not have.
#pragma once

#include <netaio/handler.hpp>
#include <netaio/logging.hpp>
#include <netaio/message.hpp>
#include <netaio/peer.hpp>
#include <netaio/plugin.hpp>
#include <netaio/version.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

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
    std::size_t read_chunk = 64u << 10;                 ///< bytes asked for per read
    bool no_delay = true;                               ///< TCP_NODELAY (request/response latency)
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
    std::size_t max_consecutive_bad_frames = 8; ///< checksum failures in a row before closing
    std::chrono::milliseconds stop_timeout = 5s; ///< how long stop() lets queued replies drain
    bool use_auth = true;    ///< apply the outer auth plugin (Python: start(use_auth=...))
    bool use_cipher = true;  ///< apply the outer cipher plugin
    any_auth_plugin auth_plugin{};    ///< outer auth layer (may be empty)
    any_cipher_plugin cipher_plugin{};  ///< outer cipher layer (may be empty)
    DefaultPeerPlugin peer_plugin{};
    logger log{};                     ///< silent unless given a sink
    std::string logger_name = "netaio.server";
    reject_callback on_reject{};      ///< observe refused frames and closed connections
    auth_error_handler on_auth_error{};  ///< empty: default_auth_error_reply
};

struct tcp_client_options {
    std::string host = "127.0.0.1";  ///< default server host
    std::uint16_t port = 8888;       ///< default server port
    /// A client keeps quiet connections open: no idle timeout by default.
    tcp_connection_options connection{.idle_timeout = std::chrono::milliseconds(0)};
    std::chrono::milliseconds connect_timeout = 10s;
    std::chrono::milliseconds request_timeout = 10s;  ///< default for request/create/update/delete
    std::size_t max_pending_requests = 1024;          ///< per connection (errc::too_many_pending)
    bool use_auth = true;
    bool use_cipher = true;
    any_auth_plugin auth_plugin{};
    any_cipher_plugin cipher_plugin{};
    DefaultPeerPlugin peer_plugin{};
    logger log{};
    std::string logger_name = "netaio.client";
    reject_callback on_reject{};
    auth_error_handler on_auth_error{};
};

NETAIO_END_NAMESPACE
