// fuzz_hmac_check.cpp - libFuzzer target for HMACAuthPlugin::check, with and
// without the xmac extension (RELIABILITY.md "Fuzz targets" 3).
//
// Four checkers share the secret "test" (the golden vectors' secret) and a clock
// frozen at the vectors' time: Python semantics; hardened without xmac
// (verify_xmac off); hardened verifying an xmac when present; hardened requiring it.
// Replay caches are built per input so that every input replays identically.
//
// Raw inputs (see fuzz_support.hpp) are decoded as one frame and checked by all
// four. Properties: check() never throws or crashes; each stricter checker accepts
// a subset of what the laxer one accepts (required <= optional <= compatible <=
// Python); an accepted frame is accepted once by a checker with a replay cache,
// then refused as replayed.
//
// Structured inputs reach the MAC comparisons on purpose: the decoded frame is
// signed with xmac (its ts dropped so the clock's is used), and must then pass
// all four checkers; ops then re-type it, flip bits in its fields or body, add,
// truncate or erase fields, and the re-framed result must get exactly the
// verdicts the construction promises:
//   require_xmac:      accepted iff type, every auth field and the body are unchanged;
//   compatible:        accepted iff nonce, ts, hmac and the body are unchanged
//                      (the pinned limit: type and other fields are not covered);
//   Python semantics:  accepted iff nonce, hmac and the bytes ts || body are
//                      unchanged (bytes may move across the ts/body boundary);
//   verify if present: compatible, and additionally unchanged when an xmac is present.
#include <netaio/errors.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/message.hpp>

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
constexpr const char* target = "fuzz_hmac_check";

hmac_auth_options options(bool hardened) {
    hmac_auth_options o;
    o.secret = to_bytes("test");
    o.min_secret_length = 0;
    o.clock = clock_source::fixed(netaio_fuzz::fuzz_time);
    o.random = netaio_fuzz::fixed_random();
    if (hardened)
        o.replay_cache_capacity = 0;  // a cache kept across inputs would make runs differ
    else
        o.python_semantics();
    return o;
}

hmac_auth_options with(hmac_auth_options o, bool verify, bool require, bool send) {
    o.verify_xmac = verify;
    o.require_xmac = require;
    o.send_xmac = send;
    return o;
}

struct checkers {
    HMACAuthPlugin python{options(false)};
    HMACAuthPlugin compatible{with(options(true), false, false, false)};
    HMACAuthPlugin optional{with(options(true), true, false, false)};
    HMACAuthPlugin required{with(options(true), true, true, false)};
    HMACAuthPlugin signer{with(options(true), true, true, true)};
};

const checkers& plugins() {
    static const checkers c;
    return c;
}

plugin_context context_of(const Message& m) {
    return plugin_context(nullptr, nullptr, static_cast<std::uint8_t>(m.type()));
}

struct verdicts {
    std::error_code python, compatible, optional, required;
};

verdicts check_all(const Message& m) {
    const checkers& p = plugins();
    const plugin_context ctx = context_of(m);
    verdicts v{p.python.check(m.auth_data, m.body, ctx), p.compatible.check(m.auth_data, m.body, ctx),
               p.optional.check(m.auth_data, m.body, ctx), p.required.check(m.auth_data, m.body, ctx)};
    if (!v.required && v.optional) fail(target, "require_xmac accepts what verify-if-present refuses");
    if (!v.optional && v.compatible) fail(target, "verifying the xmac accepts what the compatible MAC refuses");
    if (!v.compatible && v.python) fail(target, "the hardened check accepts what Python semantics refuse");
    return v;
}

// Accepted once by a checker with a (fresh) replay cache, then refused as replayed.
void check_replay(const Message& m) {
    hmac_auth_options o = with(options(true), true, false, false);
    o.replay_cache_capacity = 4;
    const HMACAuthPlugin p(o);
    const plugin_context ctx = context_of(m);
    if (p.check(m.auth_data, m.body, ctx)) return;
    if (p.check(m.auth_data, m.body, ctx) != errc::replayed) fail(target, "an accepted frame is accepted twice");
}

void structured(Message m, const netaio_fuzz::parsed_input& in) {
    // Sign it as a sender would (fresh ts from the clock, deterministic nonce).
    m.auth_data.erase("ts");
    try {
        plugins().signer.make(m.auth_data, m.body, context_of(m));
    } catch (const netaio::error&) {
        return;  // e.g. an auth field too large for the xmac's u16 lengths
    }
    const std::optional<Message> signed_frame = netaio_fuzz::reframe(m);
    if (!signed_frame) return;  // over the decoder's limits
    const Message& original = *signed_frame;
    const verdicts v0 = check_all(original);
    if (v0.python || v0.compatible || v0.optional || v0.required) fail(target, "a frame signed with xmac does not verify");
    check_replay(original);

    // Alter it as an on-path attacker would, and put it back on the wire.
    Message altered = original;
    static const std::vector<std::string> names{"nonce", "ts", "hmac", "xmac", "iv", "x"};
    for (std::size_t i = 0; i < in.op_count() && i < 16; ++i) netaio_fuzz::apply(altered, in.op_at(i), names);
    const std::optional<Message> received = netaio_fuzz::reframe(altered);
    if (!received) return;  // e.g. re-typed to a type the decoder does not know
    const Message& r = *received;

    const bool unchanged = r.type() == original.type() && r.auth_data == original.auth_data && r.body == original.body;
    const bool compatible_same = r.body == original.body && netaio_fuzz::same_field(r.auth_data, original.auth_data, "nonce") &&
                                 netaio_fuzz::same_field(r.auth_data, original.auth_data, "ts") &&
                                 netaio_fuzz::same_field(r.auth_data, original.auth_data, "hmac");
    const verdicts v = check_all(r);
    if (!v.required != unchanged) fail(target, "require_xmac: not accepted exactly when the frame is unchanged");
    if (!v.compatible != compatible_same)
        fail(target, "compatible MAC: not accepted exactly when nonce, ts, hmac and body are unchanged");
    // Python MACs ts || body with no boundary: moving bytes from the ts to the body
    // (or back) keeps the MAC (RELIABILITY.md §2 row 4, closed by strict lengths).
    const auto signed_bytes = [](const Message& x) -> std::optional<bytes> {
        const auto ts = x.auth_data.get_bytes("ts");
        if (!ts) return std::nullopt;
        bytes out(ts->begin(), ts->end());
        x.body.encode_into(out);
        return out;
    };
    const bool python_same = netaio_fuzz::same_field(r.auth_data, original.auth_data, "nonce") &&
                             netaio_fuzz::same_field(r.auth_data, original.auth_data, "hmac") &&
                             signed_bytes(r) == signed_bytes(original);
    if (!v.python != python_same) fail(target, "Python semantics: not accepted exactly when nonce, hmac and ts || body are unchanged");
    const bool expected_optional = compatible_same && (!r.auth_data.contains("xmac") || unchanged);
    if (!v.optional != expected_optional) fail(target, "verify-if-present: wrong verdict");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::optional<netaio_fuzz::parsed_input> in = netaio_fuzz::parse(data, size);
    if (!in) return 0;
    std::optional<Message> m = netaio_fuzz::decode_frame(in->frame);
    if (!m) return 0;
    if (in->structured) {
        structured(std::move(*m), *in);
    } else {
        (void)check_all(*m);
        check_replay(*m);
    }
    return 0;
}
