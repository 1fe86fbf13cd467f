// fuzz_cipher_decrypt.cpp - libFuzzer target for the decrypt paths of
// Sha256StreamCipherPlugin (encrypt_uri on and off) and
// XChaCha20Poly1305CipherPlugin (server, client and peer roles; uri encrypted or
// in the additional data) (RELIABILITY.md "Fuzz targets" 4).
//
// Keys are fixed (the stream cipher uses "test", the golden vectors' key), the
// clock is frozen at the vectors' time, random draws are deterministic, and the
// AEAD replay caches are off, so every input replays identically.
//
// Raw inputs (see fuzz_support.hpp) are decoded as one frame and decrypted by
// every plugin. Properties, for every plugin: decrypt() never throws or crashes,
// and on failure leaves the message exactly as it was. Stream cipher: decryption
// succeeds exactly when the iv is 16 bytes (and, with encrypt_uri, the plaintext
// holds its uri), and re-encrypting the plaintext under the same iv gives back
// the received body. AEAD: what opens is authentic, checked in structured mode.
//
// Structured inputs are first encrypted (stream cipher both ways; AEAD by a
// client for the server, by one peer for another), must decrypt to the original,
// and a frame sent back to its sender is refused as reflected. Ops then alter the
// encrypted frame (re-type, flip, add, erase or truncate fields, flip body bits)
// and the re-framed result is decrypted again: the stream cipher keeps the raw
// properties; the AEAD may open it only when the type, its nonce and ts fields, the
// sender field (peer role) and the body are unchanged, and then to the original plaintext.
#include <netaio/crypto.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/xchacha20_poly1305_cipher_plugin.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using namespace netaio;
using netaio_fuzz::fail;
constexpr const char* target = "fuzz_cipher_decrypt";

Sha256StreamCipherPlugin stream(bool encrypt_uri) {
    sha256_stream_cipher_options o;
    o.key = to_bytes("test");
    o.python_semantics();  // any key length, as Python
    o.encrypt_uri = encrypt_uri;
    o.random = netaio_fuzz::fixed_random();
    return Sha256StreamCipherPlugin(o);
}

XChaCha20Poly1305CipherPlugin aead(aead_role role, bool encrypt_uri, const char* sender = "") {
    xchacha20_poly1305_cipher_options o;
    o.master_key = bytes(32, 0x42);
    o.role = role;
    o.sender_id = to_bytes(sender);
    o.encrypt_uri = encrypt_uri;
    o.replay_cache_capacity = 0;  // a cache kept across inputs would make runs differ
    o.clock = clock_source::fixed(netaio_fuzz::fuzz_time);
    o.random = netaio_fuzz::fixed_random();
    return XChaCha20Poly1305CipherPlugin(o);
}

struct plugins {
    Sha256StreamCipherPlugin stream_uri = stream(true);
    Sha256StreamCipherPlugin stream_plain = stream(false);
    XChaCha20Poly1305CipherPlugin client = aead(aead_role::client, true);
    XChaCha20Poly1305CipherPlugin server = aead(aead_role::server, true);
    XChaCha20Poly1305CipherPlugin inner_client = aead(aead_role::client, false);
    XChaCha20Poly1305CipherPlugin inner_server = aead(aead_role::server, false);
    XChaCha20Poly1305CipherPlugin peer_a = aead(aead_role::peer, true, "a");
    XChaCha20Poly1305CipherPlugin peer_b = aead(aead_role::peer, true, "b");
};

const plugins& all() {
    static const plugins p;
    return p;
}

// Decrypt a copy; on failure it must be unchanged. Returns the copy on success.
template <class Plugin>
std::optional<Message> decrypt(const Plugin& p, const Message& m, std::error_code* reason = nullptr) {
    Message copy = m;
    std::error_code ec;
    try {
        ec = p.decrypt(copy, plugin_context{});
    } catch (...) {
        fail(target, "decrypt() threw");
    }
    if (reason) *reason = ec;
    if (ec) {
        if (!(copy == m)) fail(target, "a failed decrypt() changed the message");
        return std::nullopt;
    }
    return copy;
}

// Stream cipher: succeeds exactly when it should, and the plaintext re-encrypts
// under the same iv to the received body.
void check_stream(const Sha256StreamCipherPlugin& p, const Message& m) {
    const std::optional<Message> opened = decrypt(p, m);
    const auto iv = m.auth_data.get_bytes("iv");
    const bool iv_ok = iv && iv->size() == crypto::iv_size;
    const bool uri_ok = !p.options().encrypt_uri || m.body.uri.size() + m.body.content.size() >= 2;
    if (!opened) {
        if (!iv_ok || !uri_ok) return;
        if (!p.options().encrypt_uri) fail(target, "stream cipher refused a 16-byte iv");
        // encrypt_uri: refused only when the decrypted uri length runs past the plaintext.
        bytes pt = m.body.uri;
        detail::append(pt, m.body.content);
        crypto::symcrypt_in_place(bytes_view(p.plugin_key()), *iv, pt);
        if (detail::get_u16be(pt.data()) <= pt.size() - 2) fail(target, "stream cipher refused a plaintext that holds its uri");
        return;
    }
    if (!iv_ok || !uri_ok) fail(target, "stream cipher decrypted without a 16-byte iv or a uri length");
    if (opened->type() != m.type() || !(opened->auth_data == m.auth_data)) fail(target, "decrypt changed the type or the fields");
    bytes again;
    bytes expected;
    if (p.options().encrypt_uri) {
        again = opened->body.encode();  // u16be(len(uri)) || uri || content
        expected = m.body.uri;
        detail::append(expected, m.body.content);
    } else {
        if (opened->body.uri != m.body.uri) fail(target, "encrypt_uri off: the uri changed");
        again = opened->body.content;
        expected = m.body.content;
    }
    crypto::symcrypt_in_place(bytes_view(p.plugin_key()), *iv, again);
    if (again != expected) fail(target, "the plaintext does not re-encrypt to the received body");
}

void check_raw(const Message& m) {
    const plugins& p = all();
    check_stream(p.stream_uri, m);
    check_stream(p.stream_plain, m);
    (void)decrypt(p.client, m);
    (void)decrypt(p.server, m);
    (void)decrypt(p.inner_server, m);
    (void)decrypt(p.peer_b, m);
}

// AEAD: `sender` encrypts, `receiver` must open it to the original; `sender` must
// see it as reflected; then the altered frame may open only when what the AD and
// the tag cover is unchanged.
void check_aead(const XChaCha20Poly1305CipherPlugin& sender, const XChaCha20Poly1305CipherPlugin& receiver,
                const Message& plain, const netaio_fuzz::parsed_input& in) {
    Message m = plain;
    m.auth_data.erase("ts");  // encrypt() would reuse a 4-byte ts, maybe outside the window
    try {
        sender.encrypt(m, plugin_context{});
    } catch (const netaio::error&) {
        return;  // too long to encapsulate
    }
    const std::optional<Message> sent = netaio_fuzz::reframe(m);
    if (!sent) return;
    const std::optional<Message> opened = decrypt(receiver, *sent);
    if (!opened) fail(target, "AEAD: a frame encrypted for the receiver does not open");
    if (!(opened->body == plain.body)) fail(target, "AEAD: decrypted body differs from the plaintext");
    std::error_code reason;
    if (decrypt(sender, *sent, &reason)) fail(target, "AEAD: a sender opened its own frame");
    if (reason != errc::reflected) fail(target, "AEAD: our own frame sent back is not refused as reflected");

    Message altered = *sent;
    static const std::vector<std::string> names{"xn", "ts", "xs", "iv", "x"};
    for (std::size_t i = 0; i < in.op_count() && i < 16; ++i) netaio_fuzz::apply(altered, in.op_at(i), names);
    const std::optional<Message> received = netaio_fuzz::reframe(altered);
    if (!received) return;
    const Message& r = *received;
    const std::optional<Message> result = decrypt(receiver, r);
    if (!result) return;
    const bool covered_same = r.type() == sent->type() && r.body == sent->body &&
                              netaio_fuzz::same_field(r.auth_data, sent->auth_data, "xn") &&
                              netaio_fuzz::same_field(r.auth_data, sent->auth_data, "ts") &&
                              (receiver.options().role != aead_role::peer ||
                               netaio_fuzz::same_field(r.auth_data, sent->auth_data, "xs"));
    if (!covered_same) fail(target, "AEAD: an altered frame opened");
    if (!(result->body == plain.body)) fail(target, "AEAD: an altered frame opened to another plaintext");
}

void check_stream_round_trip(const Sha256StreamCipherPlugin& p, const Message& plain, const netaio_fuzz::parsed_input& in) {
    Message m = plain;
    try {
        p.encrypt(m, plugin_context{});
    } catch (const netaio::error&) {
        return;
    }
    const std::optional<Message> sent = netaio_fuzz::reframe(m);
    if (!sent) return;
    const std::optional<Message> opened = decrypt(p, *sent);
    if (!opened || !(opened->body == plain.body)) fail(target, "stream cipher: encrypt then decrypt is not the identity");
    Message altered = *sent;
    static const std::vector<std::string> names{"iv", "x"};
    for (std::size_t i = 0; i < in.op_count() && i < 16; ++i) netaio_fuzz::apply(altered, in.op_at(i), names);
    if (const std::optional<Message> received = netaio_fuzz::reframe(altered)) check_stream(p, *received);
}

void check_structured(const Message& plain, const netaio_fuzz::parsed_input& in) {
    const plugins& p = all();
    check_stream_round_trip(p.stream_uri, plain, in);
    check_stream_round_trip(p.stream_plain, plain, in);
    check_aead(p.client, p.server, plain, in);
    check_aead(p.inner_client, p.inner_server, plain, in);
    check_aead(p.peer_a, p.peer_b, plain, in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::optional<netaio_fuzz::parsed_input> in = netaio_fuzz::parse(data, size);
    if (!in) return 0;
    const std::optional<Message> m = netaio_fuzz::decode_frame(in->frame);
    if (!m) return 0;
    if (in->structured)
        check_structured(*m, *in);
    else
        check_raw(*m);
    return 0;
}
