// tests/unit/plugin_support.hpp - the compatible plugins (HMACAuthPlugin,
// Sha256StreamCipherPlugin) configured the way the TCP tests use them, and the inner
// layer (per handler, per request) built from them. Each test file keeps its own
// secrets and keys and passes them in.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/handler.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>

#include <string>
#include <utility>

namespace netaio_test {

/// An HMAC auth plugin keyed with `secret`, its MAC in auth field `field`.
inline netaio::HMACAuthPlugin hmac_plugin(const netaio::bytes& secret, std::string field = "hmac") {
    netaio::hmac_auth_options o;
    o.secret = secret;
    o.hmac_field = std::move(field);
    return netaio::HMACAuthPlugin(o);
}

/// A stream cipher plugin keyed with `key`, its IV in auth field `iv_field`.
inline netaio::Sha256StreamCipherPlugin stream_cipher_plugin(const netaio::bytes& key, bool encrypt_uri = true,
                                                             std::string iv_field = "iv") {
    netaio::sha256_stream_cipher_options o;
    o.key = key;
    o.encrypt_uri = encrypt_uri;
    o.iv_field = std::move(iv_field);
    return netaio::Sha256StreamCipherPlugin(o);
}

/// The inner layer of handlers and requests: its own MAC and IV fields ("ihmac",
/// "iiv", P§9.1), the uri left in clear so routing works (B7).
inline netaio::handler_plugins inner_layer(const netaio::bytes& secret, const netaio::bytes& key) {
    return netaio::handler_plugins{hmac_plugin(secret, "ihmac"), stream_cipher_plugin(key, false, "iiv")};
}

}  // namespace netaio_test
