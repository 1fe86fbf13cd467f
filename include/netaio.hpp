// netaio.hpp - umbrella header: every public netaio header.
//
// Include this for convenience, or the specific headers under <netaio/...> to keep
// compile times down (each public header compiles on its own).
#pragma once

#include <netaio/auth_fields.hpp>
#include <netaio/auto_reconnect_timeout_handler.hpp>
#include <netaio/bytes.hpp>
#include <netaio/crypto.hpp>
#include <netaio/ed25519_auth_plugin.hpp>
#include <netaio/errors.hpp>
#include <netaio/frame_decoder.hpp>
#include <netaio/handler.hpp>
#include <netaio/hashcash_auth_plugin.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/logging.hpp>
#include <netaio/message.hpp>
#include <netaio/message_type.hpp>
#include <netaio/options.hpp>
#include <netaio/packify.hpp>
#include <netaio/packify_integer.hpp>
#include <netaio/packify_json.hpp>
#include <netaio/packify_value.hpp>
#include <netaio/peer.hpp>
#include <netaio/peer_table.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/replay_cache.hpp>
#include <netaio/routing.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/stats.hpp>
#include <netaio/tapescript.hpp>
#include <netaio/tapescript_auth_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_connection.hpp>
#include <netaio/tcp_server.hpp>
#include <netaio/udp_node.hpp>
#include <netaio/version.hpp>
#include <netaio/x25519_cipher_plugin.hpp>
#include <netaio/xchacha20_poly1305_cipher_plugin.hpp>
