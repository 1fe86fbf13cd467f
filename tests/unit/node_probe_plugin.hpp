// tests/unit/node_probe_plugin.hpp - an auth plugin that records what it sees of the
// node applying it (plugin_context::node), and a logger that records lines.
#pragma once

#include <netaio/logging.hpp>
#include <netaio/message.hpp>
#include <netaio/peer.hpp>
#include <netaio/plugin.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace netaio_test {

/// Adds nothing and accepts everything, but records the node behind each call
/// and logs "probe make" / "probe check" through that node's logger.
struct node_probe_plugin {
    struct seen {
        std::string call;  ///< "make" or "check"
        bool has_node;     ///< plugin_context::node was filled in
        netaio::node_kind kind;
        std::string local_id;  ///< the node's local peer id, "" when none
    };
    std::shared_ptr<std::vector<seen>> calls = std::make_shared<std::vector<seen>>();

    void record(const char* call, const netaio::plugin_context& ctx) const {
        // Recorded, not REQUIREd: this runs inside the node's pipeline, which
        // would treat a thrown assertion as a plugin failure.
        if (!ctx.node) {
            calls->push_back({call, false, netaio::node_kind::tcp_server, {}});
            return;
        }
        const netaio::Peer* local = ctx.node->local_peer;
        calls->push_back({call, true, ctx.node->kind,
                          local && local->id ? std::string(local->id->begin(), local->id->end()) : std::string()});
        ctx.node->log(netaio::log_level::info, [&] { return std::string("probe ") + call; });
    }
    void make(netaio::AuthFields&, const netaio::Body&, const netaio::plugin_context& ctx) { record("make", ctx); }
    std::error_code check(const netaio::AuthFields&, const netaio::Body&, const netaio::plugin_context& ctx) {
        record("check", ctx);
        return {};
    }
    netaio::Message error() { return netaio::make_error_msg("probe"); }
    bool is_peer_specific() const { return false; }
};
static_assert(netaio::AuthPlugin<node_probe_plugin>);

inline netaio::Peer local_peer_named(const std::string& id) {
    netaio::Peer p;
    p.id = netaio::to_bytes(id);
    return p;
}

using log_lines = std::vector<std::string>;

/// A logger recording "name: text" lines at INFO and above.
inline netaio::logger recording_logger(std::shared_ptr<log_lines> lines) {
    return netaio::logger{netaio::log_level::info,
                          [lines](netaio::log_level, std::string_view name, std::string_view text) {
                              lines->push_back(std::string(name) + ": " + std::string(text));
                          }};
}

inline bool contains(const log_lines& lines, const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
}

}  // namespace netaio_test
