// tests/unit/test_tapescript.cpp - the tapescript subset (netaio/tapescript.hpp):
// locks, witnesses and the taproot tweak byte for byte against
// tapescript_auth.json (kinds lock, taproot_lock, taproot_make, taproot_check),
// every opcode's error paths, multisig key reuse, the limits, and a mutation
// loop over the vectors' scripts (must never crash, never authenticate).
// The plugin-level cases of the same file are in test_tapescript_auth_plugin.cpp.
#include <netaio/tapescript.hpp>

#include "message_vector_support.hpp"

#include <catch2/catch.hpp>

#include <iostream>
#include <random>
#include <string>
#include <vector>

using namespace netaio;
using netaio_test::auth_fields_of;
using netaio_test::hex;
using netaio_test::json;
namespace ts = netaio::tapescript;
using ts::script_error;

namespace {

const json& vectors() {
    static const json doc = netaio_test::load_vectors("tapescript_auth.json");
    return doc;
}

bytes seed_n(std::uint8_t first) {
    bytes s(32);
    for (std::size_t i = 0; i < 32; ++i) s[i] = static_cast<std::uint8_t>(first + i);
    return s;
}

bytes cat(std::initializer_list<bytes_view> parts) {
    bytes out;
    for (bytes_view p : parts) detail::append(out, p);
    return out;
}

bytes repeat(std::string_view hex_text, std::size_t times) {
    const bytes unit = from_hex(hex_text);
    bytes out;
    for (std::size_t i = 0; i < times; ++i) detail::append(out, unit);
    return out;
}

/// Owns netaio's three sigfields for a message: body bytes, nonce, 4-byte ts.
struct message_fields {
    bytes body, nonce, ts4;
    message_fields(bytes uri, bytes content, bytes n, bytes t) : nonce(std::move(n)), ts4(std::move(t)) {
        body = Body(std::move(uri), std::move(content)).encode();
    }
    /// "echo" / "hello", nonce 00..0f, ts 1700000000: the worked example's message.
    static message_fields example(std::string_view content = "hello") {
        bytes nonce(16);
        for (std::size_t i = 0; i < 16; ++i) nonce[i] = static_cast<std::uint8_t>(i);
        return message_fields(to_bytes("echo"), to_bytes(content), nonce, from_hex("6553f100"));
    }
    /// From a check case: its uri/content and auth fields.
    static message_fields of_case(const json& c) {
        const AuthFields f = auth_fields_of(c.at("auth_fields"));
        return message_fields(hex(c.at("uri_hex")), hex(c.at("content_hex")), bytes(f.get_bytes("nonce").value().begin(), f.get_bytes("nonce").value().end()),
                              bytes(f.get_bytes("ts").value().begin(), f.get_bytes("ts").value().end()));
    }
    ts::sigfields view() const { return ts::sigfields::for_message(body, nonce, ts4); }
};

std::vector<std::string> stack_hex(const ts::run_result& r) {
    std::vector<std::string> out;
    for (const bytes& item : r.stack) out.push_back(to_hex(item));
    return out;
}

std::vector<std::string> strings_of(const json& array) {
    std::vector<std::string> out;
    for (const auto& s : array) out.push_back(s.get<std::string>());
    return out;
}

/// Every recorded field of a tweak against our computation.
void check_tweak(const json& expected, const ts::tweak_values& t, const bytes& internal_key) {
    CHECK(to_hex(t.commitment) == expected.at("script_commitment_hex").get<std::string>());
    CHECK(to_hex(cat({internal_key, t.commitment})) == expected.at("tweak_input_hex").get<std::string>());
    CHECK(to_hex(t.hash) == expected.at("tweak_hash_hex").get<std::string>());
    CHECK(to_hex(t.scalar) == expected.at("tweak_scalar_hex").get<std::string>());
    CHECK(to_hex(t.point) == expected.at("tweak_point_hex").get<std::string>());
    if (expected.contains("tweaked_vkey_hex")) CHECK(to_hex(t.tweaked_key) == expected.at("tweaked_vkey_hex").get<std::string>());
}

/// A lock/witness pair plus its message, for the mutation loop.
struct script_pair {
    std::string name;
    bytes witness;
    bytes lock;
    message_fields fields;
};

std::vector<script_pair> valid_pairs() {
    std::vector<script_pair> out;
    for (const json& c : vectors().at("cases")) {
        const std::string kind = c.at("kind").get<std::string>();
        if ((kind == "check" || kind == "taproot_check") && c.at("expected").get<bool>() && !c.contains("peer")) {
            const AuthFields f = auth_fields_of(c.at("auth_fields"));
            const auto w = f.get_bytes("witness").value();
            out.push_back({c.at("description").get<std::string>(), bytes(w.begin(), w.end()), hex(c.at("lock_hex")),
                           message_fields::of_case(c)});
        }
    }
    return out;
}

}  // namespace

// ------------------------------------------------------------------ vectors

TEST_CASE("tapescript: lock vectors (single-sig, 1-of-2 multisig) are byte-exact", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "lock")) {
        INFO(c.at("description").get<std::string>());
        if (c.contains("vkeys_hex")) {
            std::vector<ts::verify_key> keys;
            for (const auto& k : c.at("vkeys_hex")) {
                const bytes b = hex(k);
                ts::verify_key key{};
                std::copy(b.begin(), b.end(), key.begin());
                keys.push_back(key);
            }
            CHECK(to_hex(ts::make_multisig_lock(keys, 1)) == c.at("lock_hex").get<std::string>());
        } else {
            const ts::verify_key vkey = ts::verify_key_from_seed(hex(c.at("seed_hex")));
            CHECK(to_hex(vkey) == c.at("vkey_hex").get<std::string>());
            CHECK(to_hex(ts::make_single_sig_lock(vkey)) == c.at("lock_hex").get<std::string>());
        }
        ++checked;
    }
    std::cout << "tapescript_auth.json lock vectors checked: " << checked << "\n";
    CHECK(checked == 3);
}

TEST_CASE("tapescript: taproot_lock vectors - every tweak step and the lock (P§8.2.1 worked example)", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "taproot_lock")) {
        INFO(c.at("description").get<std::string>());
        const ts::verify_key internal = ts::verify_key_from_seed(hex(c.at("internal_seed_hex")));
        const ts::verify_key admin = ts::verify_key_from_seed(hex(c.at("admin_seed_hex")));
        CHECK(to_hex(internal) == c.at("internal_vkey_hex").get<std::string>());
        CHECK(to_hex(admin) == c.at("admin_vkey_hex").get<std::string>());
        const bytes committed = ts::make_single_sig_lock(admin);
        CHECK(to_hex(committed) == c.at("committed_script_hex").get<std::string>());
        const ts::tweak_values t = ts::taproot_tweak(internal, committed);
        check_tweak(c.at("tweak"), t, bytes(internal.begin(), internal.end()));
        CHECK(to_hex(t.tweaked_key) == c.at("tweaked_vkey_hex").get<std::string>());
        CHECK(to_hex(ts::make_taproot_lock(internal, committed)) == c.at("lock_hex").get<std::string>());
        ++checked;
    }
    std::cout << "tapescript_auth.json taproot_lock vectors checked: " << checked << "\n";
    CHECK(checked == 2);
}

TEST_CASE("tapescript: taproot_make vectors - key-path signing steps and script-path witnesses are byte-exact", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "taproot_make")) {
        INFO(c.at("description").get<std::string>());
        const json& tweak = c.at("tweak");
        const bytes committed = hex(tweak.at("committed_script_hex"));
        const bytes internal = hex(tweak.at("internal_vkey_hex"));
        const bytes seed = hex(c.at("seed_hex"));

        // The message: the make() output's fields (nonce and ts as written).
        const json& out = c.at("output");
        const AuthFields written = auth_fields_of(out.at("auth_fields"));
        const auto nonce = written.get_bytes("nonce").value();
        const auto ts4 = written.get_bytes("ts").value();
        const message_fields m(hex(out.at("uri_hex")), hex(out.at("content_hex")), bytes(nonce.begin(), nonce.end()),
                               bytes(ts4.begin(), ts4.end()));
        const ts::sigfields fields = m.view();
        CHECK(to_hex(fields.message(0)) == c.at("signed_message_hex").get<std::string>());
        check_tweak(tweak, ts::taproot_tweak(internal, committed), internal);
        CHECK(to_hex(ts::make_taproot_lock(internal, committed)) == c.at("lock_hex").get<std::string>());

        bytes witness;
        if (c.at("path").get<std::string>() == "key") {
            const json& signing = c.at("signing");
            std::uint8_t x[32];
            detail::ed25519::secret_scalar_from_seed(seed, x);
            CHECK(to_hex(bytes_view(x, 32)) == signing.at("internal_scalar_hex").get<std::string>());
            detail::ed25519::keyspend_trace trace;
            const auto sig = detail::ed25519::sign_keyspend(seed, ts::taproot_tweak(internal, committed).scalar,
                                                            fields.message(0), &trace);
            CHECK(to_hex(trace.tweaked_scalar) == signing.at("tweaked_scalar_hex").get<std::string>());
            CHECK(to_hex(trace.nonce_seed) == signing.at("nonce_seed_hex").get<std::string>());
            CHECK(to_hex(trace.nonce) == signing.at("nonce_hex").get<std::string>());
            CHECK(to_hex(trace.r) == signing.at("r_hex").get<std::string>());
            CHECK(to_hex(trace.R) == signing.at("R_hex").get<std::string>());
            CHECK(to_hex(trace.challenge) == signing.at("challenge_hex").get<std::string>());
            CHECK(to_hex(trace.s) == signing.at("s_hex").get<std::string>());
            CHECK(to_hex(sig) == c.at("signature_hex").get<std::string>());
            // Plain Ed25519 for the tweaked key (P§8.2.1 "Key path").
            const bytes message = fields.message(0);
            CHECK(crypto_sign_verify_detached(sig.data(), message.data(), message.size(),
                                              hex(c.at("tweaked_vkey_hex")).data()) == 0);
            witness = ts::make_taproot_witness_keyspend(seed, fields, committed);
        } else {
            CHECK(to_hex(ts::verify_key_from_seed(seed)) == c.at("signer_vkey_hex").get<std::string>());
            witness = cat({ts::make_single_sig_witness(seed, fields), ts::make_taproot_witness_scriptspend(internal, committed)});
            CHECK(witness.size() == 138);
        }
        CHECK(to_hex(witness) == c.at("witness_hex").get<std::string>());

        // The witness alone leaves exactly the recorded items; with the lock it authenticates.
        const ts::run_result alone = ts::run_auth_scripts({witness}, fields);
        CHECK(alone.error == script_error::none);
        CHECK(stack_hex(alone) == strings_of(c.at("witness_items_hex")));
        const bytes lock = hex(c.at("lock_hex"));
        CHECK(ts::run_auth_scripts({witness, lock}, fields).ok());
        ++checked;
    }
    std::cout << "tapescript_auth.json taproot_make vectors checked: " << checked << "\n";
    CHECK(checked == 4);
}

TEST_CASE("tapescript: taproot_check vectors - final stack or error exactly as tapescript's trace", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "taproot_check")) {
        INFO(c.at("description").get<std::string>() << " - " << c.at("reason").get<std::string>());
        const message_fields m = message_fields::of_case(c);
        const ts::sigfields fields = m.view();
        CHECK(to_hex(fields.message(0)) == c.at("signed_message_hex").get<std::string>());
        const AuthFields f = auth_fields_of(c.at("auth_fields"));
        const auto witness = f.get_bytes("witness").value();
        const bytes lock = hex(c.at("lock_hex"));
        CHECK(to_hex(lock) == "0320" + c.at("tweaked_vkey_hex").get<std::string>() + "5b00");

        // The recorded tweak: of the lock (key path) or of what the witness reveals (script path).
        if (c.contains("lock_tweak")) {
            const json& lt = c.at("lock_tweak");
            const bytes internal = hex(lt.at("internal_vkey_hex"));
            check_tweak(lt, ts::taproot_tweak(internal, hex(lt.at("committed_script_hex"))), internal);
        }
        if (c.contains("revealed_tweak")) {
            const json& rt = c.at("revealed_tweak");
            const bytes internal = hex(rt.at("internal_vkey_hex"));
            ts::tweak_values t;
            const bool valid = detail::ed25519::taproot_tweak_script(internal, hex(rt.at("committed_script_hex")), t);
            CHECK(valid == rt.value("internal_vkey_valid_point", true));
            check_tweak(rt, t, internal);
            CHECK((valid && to_hex(t.tweaked_key) == c.at("tweaked_vkey_hex").get<std::string>()) ==
                  c.at("root_matches").get<bool>());
        }

        const ts::run_result alone = ts::run_auth_scripts({witness}, fields);
        CHECK(alone.error == script_error::none);
        CHECK(stack_hex(alone) == strings_of(c.at("witness_items_hex")));

        const ts::run_result r = ts::run_auth_scripts({witness, lock}, fields);
        CHECK(r.ok() == c.at("expected").get<bool>());
        const json& trace = c.at("trace");
        if (trace.contains("final_stack_hex")) {
            CHECK(r.error == script_error::none);
            CHECK(stack_hex(r) == strings_of(trace.at("final_stack_hex")));
        } else {
            const std::string message = trace.at("exception_message").get<std::string>();
            CHECK(std::string(ts::describe(r.error)) == message);
            CHECK(r.error == (message == "disallowed sigflag" ? script_error::disallowed_sigflag : script_error::invalid_point));
        }
        ++checked;
    }
    std::cout << "tapescript_auth.json taproot_check vectors checked: " << checked << "\n";
    CHECK(checked == 15);
}

// ------------------------------------------------------------------ builders

TEST_CASE("tapescript: builders - lengths, pushes, round trips, sigflags, refusals", "[tapescript]") {
    const bytes internal_seed = seed_n(0x40), admin_seed = seed_n(0x80);
    const ts::verify_key internal = ts::verify_key_from_seed(internal_seed), admin = ts::verify_key_from_seed(admin_seed);
    const bytes committed = ts::make_single_sig_lock(admin);
    const bytes lock = ts::make_taproot_lock(internal, committed);
    const message_fields m = message_fields::example();
    const ts::sigfields fields = m.view();

    CHECK(committed.size() == 36);
    CHECK(lock.size() == 36);
    const bytes keyspend = ts::make_taproot_witness_keyspend(internal_seed, fields, committed);
    CHECK(keyspend.size() == 66);
    CHECK(ts::run_auth_scripts({keyspend, lock}, fields).ok());
    const bytes scriptspend = cat({ts::make_single_sig_witness(admin_seed, fields), ts::make_taproot_witness_scriptspend(internal, committed)});
    CHECK(scriptspend.size() == 138);
    CHECK(ts::run_auth_scripts({scriptspend, lock}, fields).ok());
    // The internal key's plain signature or the admin's key path do not pass.
    CHECK_FALSE(ts::run_auth_scripts({ts::make_single_sig_witness(internal_seed, fields), lock}, fields).ok());
    CHECK_FALSE(ts::run_auth_scripts({ts::make_taproot_witness_keyspend(admin_seed, fields, committed), lock}, fields).ok());

    // push(): 02 for one byte, 03 up to 255, 04 above.
    bytes p;
    ts::append_push(p, from_hex("aa"));
    CHECK(to_hex(p) == "02aa");
    p.clear();
    ts::append_push(p, bytes(255, 1));
    CHECK(p.size() == 257);
    CHECK(p[0] == 0x03);
    CHECK(p[1] == 0xff);
    p.clear();
    ts::append_push(p, bytes(256, 1));
    CHECK(to_hex(bytes_view(p).first(3)) == "040100");
    CHECK_THROWS_AS(ts::append_push(p, bytes{}), std::invalid_argument);

    // A sigflag the lock allows: 65-byte signature, the flagged field (the body) unsigned.
    const bytes lenient_lock = ts::make_single_sig_lock(admin, 0x01);
    const bytes flagged = ts::make_single_sig_witness(admin_seed, fields, 0x01);
    CHECK(flagged.size() == 67);
    CHECK(to_hex(bytes_view(flagged).first(2)) == "0341");
    CHECK(flagged.back() == 0x01);
    CHECK(ts::run_auth_scripts({flagged, lenient_lock}, fields).ok());
    const message_fields other_body = message_fields::example("another body");
    CHECK(ts::run_auth_scripts({flagged, lenient_lock}, other_body.view()).ok());
    const ts::run_result strict = ts::run_auth_scripts({flagged, ts::make_single_sig_lock(admin)}, fields);
    CHECK(strict.error == script_error::disallowed_sigflag);
    // Taproot key path with an allowed sigflag.
    const bytes tr_lenient = ts::make_taproot_lock(internal, committed, 0x04);
    CHECK(ts::run_auth_scripts({ts::make_taproot_witness_keyspend(internal_seed, fields, committed, 0x04), tr_lenient}, fields).ok());

    CHECK_THROWS_AS(ts::make_single_sig_lock(bytes(31, 1)), std::invalid_argument);
    CHECK_THROWS_AS(ts::make_single_sig_witness(bytes(31, 1), fields), std::invalid_argument);
    CHECK_THROWS_AS(ts::make_single_sig_witness(admin_seed, fields, 0xff), std::invalid_argument);
    CHECK_THROWS_AS(ts::make_taproot_lock(bytes(32, 0), committed), std::invalid_argument);  // small-order point
    CHECK_THROWS_AS(ts::make_taproot_witness_scriptspend(internal, bytes{}), std::invalid_argument);
    CHECK_THROWS_AS(ts::make_taproot_witness_scriptspend(internal, bytes(1025, 0)), std::invalid_argument);
    const std::vector<ts::verify_key> two{internal, admin};
    CHECK_THROWS_AS(ts::make_multisig_lock(two, 0), std::invalid_argument);
    CHECK_THROWS_AS(ts::make_multisig_lock(two, 3), std::invalid_argument);
}

TEST_CASE("tapescript: multisig - any order, a key satisfies one slot, identical signatures count once", "[tapescript]") {
    const bytes s0 = seed_n(1), s1 = seed_n(2), s2 = seed_n(3);
    const ts::verify_key k0 = ts::verify_key_from_seed(s0), k1 = ts::verify_key_from_seed(s1), k2 = ts::verify_key_from_seed(s2);
    const message_fields m = message_fields::example();
    const ts::sigfields fields = m.view();
    const bytes w0 = ts::make_single_sig_witness(s0, fields), w1 = ts::make_single_sig_witness(s1, fields),
                w2 = ts::make_single_sig_witness(s2, fields);
    auto run = [&](const bytes& witness, const bytes& lock) { return ts::run_auth_scripts({witness, lock}, fields); };

    const std::vector<ts::verify_key> three{k0, k1, k2};
    const bytes two_of_three = ts::make_multisig_lock(three, 2);
    CHECK(run(cat({w0, w2}), two_of_three).ok());
    CHECK(run(cat({w2, w0}), two_of_three).ok());
    CHECK(run(cat({w1, w2}), two_of_three).ok());
    const bytes_view seeds[] = {s2, s1};
    CHECK(run(ts::make_multisig_witness(seeds, fields), two_of_three).ok());
    // One key cannot fill two slots: the second copy finds no unused matching key.
    const ts::run_result reused = run(cat({w0, w0}), two_of_three);
    CHECK(reused.error == script_error::none);
    CHECK(stack_hex(reused) == std::vector<std::string>{"00"});
    // Not enough signatures, or one by a stranger.
    CHECK(run(cat({w0, ts::make_single_sig_witness(seed_n(9), fields)}), two_of_three).stack == std::vector<bytes>{bytes{0}});
    CHECK(run(w0, two_of_three).error == script_error::stack_underflow);

    // The same key listed twice: tapescript matches slots by position but counts
    // distinct signature bytes, so the same signature twice still fails...
    const std::vector<ts::verify_key> same_twice{k0, k0};
    const bytes two_of_same = ts::make_multisig_lock(same_twice, 2);
    CHECK(stack_hex(run(cat({w0, w0}), two_of_same)) == std::vector<std::string>{"00"});
    // ...while the same signature re-encoded with an explicit zero sigflag is a
    // second distinct signature: a lock listing a key twice really does let that
    // key fill both slots (the lock's author chose that; tapescript agrees).
    bytes sig0_flag0(w0.begin() + 2, w0.end());
    sig0_flag0.push_back(0x00);
    bytes w0_flag0;
    ts::append_push(w0_flag0, sig0_flag0);
    CHECK(run(cat({w0, w0_flag0}), two_of_same).ok());
    // With two distinct keys that re-encoding does not help.
    CHECK(stack_hex(run(cat({w0, w0_flag0}), two_of_three)) == std::vector<std::string>{"00"});

    // 1-of-1 multisig equals single-sig; the _VERIFY form leaves nothing behind.
    const std::vector<ts::verify_key> one{k1};
    CHECK(run(w1, ts::make_multisig_lock(one, 1)).ok());
    bytes verify_lock = ts::make_multisig_lock(one, 1);
    verify_lock[verify_lock.size() - 4] = ts::op::check_multisig_verify;
    const ts::run_result verified = run(w1, verify_lock);
    CHECK(verified.error == script_error::none);
    CHECK(verified.stack.empty());
    CHECK(run(w0, verify_lock).error == script_error::verify_failed);
}

// ------------------------------------------------------------------ error paths

TEST_CASE("tapescript: every opcode's error paths are errors, never crashes", "[tapescript]") {
    const bytes seed = seed_n(7);
    const ts::verify_key key = ts::verify_key_from_seed(seed);
    const message_fields m = message_fields::example();
    const ts::sigfields fields = m.view();
    const bytes sig_push = ts::make_single_sig_witness(seed, fields);     // 03 40 <sig>
    const bytes key_push = cat({from_hex("0320"), key});                   // 03 20 <key>
    auto run = [&](const bytes& script) { return ts::run_auth_scripts({script}, fields); };
    auto error_of = [&](const bytes& script) { return run(script).error; };

    // Unknown opcodes, including tapescript ops outside the subset (OP_PUSH4, OP_DUP, OP_EQUAL).
    for (const char* s : {"05", "1d", "21", "ff", "5a", "0001ff"}) {
        INFO(s);
        CHECK(error_of(from_hex(s)) == script_error::unknown_opcode);
    }
    // Pushes: truncated arguments and data, and the 1024-byte item limit.
    for (const char* s : {"02", "03", "0305aabb", "04", "0400", "040003aaaa"}) {
        INFO(s);
        CHECK(error_of(from_hex(s)) == script_error::truncated_script);
    }
    CHECK(error_of(cat({from_hex("040401"), bytes(1025, 7)})) == script_error::item_too_large);
    CHECK(run(cat({from_hex("040400"), bytes(1024, 7)})).stack.at(0).size() == 1024);
    CHECK(stack_hex(run(from_hex("0300"))) == std::vector<std::string>{""});  // an empty item is fine
    CHECK(stack_hex(run(from_hex("000102ab0302cdef"))) == (std::vector<std::string>{"00", "ff", "ab", "cdef"}));

    // OP_VERIFY: underflow, false values, true values.
    CHECK(error_of(from_hex("20")) == script_error::stack_underflow);
    CHECK(error_of(from_hex("0020")) == script_error::verify_failed);
    CHECK(error_of(from_hex("0300" "20")) == script_error::verify_failed);
    CHECK(error_of(from_hex("03020000" "20")) == script_error::verify_failed);
    CHECK(run(from_hex("03020001" "20")).stack.empty());
    CHECK(run(from_hex("01" "20")).stack.empty());

    // OP_CHECK_SIG / OP_CHECK_SIG_VERIFY.
    CHECK(error_of(from_hex("23")) == script_error::truncated_script);
    CHECK(error_of(from_hex("2300")) == script_error::stack_underflow);
    CHECK(error_of(cat({key_push, from_hex("2300")})) == script_error::stack_underflow);
    CHECK(run(cat({sig_push, key_push, from_hex("2300")})).ok());
    CHECK(error_of(cat({sig_push, from_hex("031f"), bytes(31, 1), from_hex("2300")})) == script_error::bad_key_length);
    CHECK(error_of(cat({sig_push, from_hex("0321"), bytes(33, 1), from_hex("2300")})) == script_error::bad_key_length);
    CHECK(error_of(cat({from_hex("033f"), bytes(63, 1), key_push, from_hex("2300")})) == script_error::bad_signature_length);
    CHECK(error_of(cat({from_hex("0342"), bytes(66, 1), key_push, from_hex("2300")})) == script_error::bad_signature_length);
    const bytes flagged = ts::make_single_sig_witness(seed, fields, 0x02);
    CHECK(error_of(cat({flagged, key_push, from_hex("2301")})) == script_error::disallowed_sigflag);
    CHECK(run(cat({flagged, key_push, from_hex("2302")})).ok());
    CHECK(run(cat({flagged, key_push, from_hex("23ff")})).ok());
    CHECK(stack_hex(run(cat({sig_push, cat({from_hex("0320"), ts::verify_key_from_seed(seed_n(8))}), from_hex("2300")}))) ==
          std::vector<std::string>{"00"});
    CHECK(stack_hex(run(cat({sig_push, from_hex("0320"), bytes(32, 0), from_hex("2300")}))) ==
          std::vector<std::string>{"00"});  // small-order key: refused by libsodium, no crash
    CHECK(run(cat({sig_push, key_push, from_hex("2400")})).stack.empty());
    CHECK(error_of(cat({sig_push, cat({from_hex("0320"), ts::verify_key_from_seed(seed_n(8))}), from_hex("2400")})) ==
          script_error::verify_failed);
    CHECK(error_of(from_hex("24")) == script_error::truncated_script);

    // OP_CHECK_MULTISIG: truncated arguments, underflow of keys then signatures.
    for (const char* s : {"46", "4600", "460001", "47", "470001"}) {
        INFO(s);
        CHECK(error_of(from_hex(s)) == script_error::truncated_script);
    }
    CHECK(error_of(from_hex("46000101")) == script_error::stack_underflow);
    CHECK(error_of(cat({key_push, from_hex("46000101")})) == script_error::stack_underflow);
    CHECK(error_of(cat({sig_push, from_hex("031f"), bytes(31, 1), from_hex("46000101")})) == script_error::bad_key_length);
    CHECK(error_of(cat({from_hex("0302abcd"), key_push, from_hex("46000101")})) == script_error::bad_signature_length);
    CHECK(stack_hex(run(from_hex("46000000"))) == std::vector<std::string>{"ff"});  // 0-of-0: nothing to check
    CHECK(stack_hex(run(cat({sig_push, from_hex("46000100")}))) == std::vector<std::string>{"00"});  // m > n

    // OP_EVAL: underflow, empty script, nested scripts, the depth limit.
    CHECK(error_of(from_hex("2d")) == script_error::stack_underflow);
    CHECK(error_of(from_hex("0300" "2d")) == script_error::empty_script);
    CHECK(stack_hex(run(from_hex("0201" "2d"))) == std::vector<std::string>{"ff"});
    CHECK(error_of(from_hex("02ff" "2d")) == script_error::unknown_opcode);
    CHECK(run(cat({sig_push, from_hex("0324"), key_push, from_hex("2300"), from_hex("2d")})).ok());
    auto nested = [](std::size_t levels) {
        bytes script = from_hex("01");
        for (std::size_t i = 0; i < levels; ++i) {
            bytes outer;
            ts::append_push(outer, script);
            outer.push_back(ts::op::eval);
            script = std::move(outer);
        }
        return script;
    };
    CHECK(run(nested(128)).ok());
    CHECK(error_of(nested(129)) == script_error::call_depth_exceeded);

    // OP_TAPROOT: truncated flags, underflow, bad root, bad signature, bad revealed key.
    const bytes committed = ts::make_single_sig_lock(key);
    const bytes internal_key_push = key_push;
    const bytes tr_lock = ts::make_taproot_lock(key, committed);
    CHECK(error_of(from_hex("5b")) == script_error::truncated_script);
    CHECK(error_of(from_hex("5b00")) == script_error::stack_underflow);
    CHECK(error_of(cat({from_hex("031f"), bytes(31, 1), from_hex("5b00")})) == script_error::bad_key_length);
    CHECK(error_of(tr_lock) == script_error::stack_underflow);  // nothing under the root
    CHECK(error_of(cat({from_hex("0302abcd"), tr_lock})) == script_error::bad_signature_length);
    CHECK(error_of(cat({internal_key_push, tr_lock})) == script_error::stack_underflow);  // script path, no S
    CHECK(error_of(cat({from_hex("0324"), committed, from_hex("0320"), bytes(32, 0), tr_lock})) == script_error::invalid_point);
    bytes off_curve(32, 0xff);  // not a point encoding at all
    CHECK(error_of(cat({from_hex("0324"), committed, from_hex("0320"), off_curve, tr_lock})) == script_error::invalid_point);
    CHECK(error_of(cat({from_hex("0324"), committed, internal_key_push, tr_lock})) == script_error::stack_underflow);  // S runs, finds no sig
    CHECK(stack_hex(run(cat({from_hex("0340"), bytes(64, 1), from_hex("0324"), committed, internal_key_push, tr_lock}))) ==
          std::vector<std::string>{"00"});  // S runs, the signature is bogus
    CHECK(error_of(cat({sig_push, from_hex("02"), from_hex("00"), internal_key_push, tr_lock})) == script_error::none);  // S = OP_FALSE: root differs
}

TEST_CASE("tapescript: limits - stack, operations, signature checks, script size", "[tapescript]") {
    const message_fields m = message_fields::example();
    const ts::sigfields fields = m.view();
    auto error_of = [&](const bytes& script, ts::limits l = {}) { return ts::run_auth_scripts({script}, fields, l).error; };

    CHECK(error_of(bytes(1024, 0x00)) == script_error::none);
    CHECK(error_of(bytes(1025, 0x00)) == script_error::stack_full);
    CHECK(error_of(repeat("020120", 2048)) == script_error::none);                 // 4096 operations
    CHECK(error_of(repeat("020120", 2049)) == script_error::too_many_operations);  // 4098
    ts::limits small;
    small.max_operations = 10;
    CHECK(error_of(repeat("01", 11), small) == script_error::too_many_operations);
    CHECK(error_of(bytes(65536, 0x00)) == script_error::script_too_large);
    small = {};
    small.max_script_size = 3;
    CHECK(ts::run_auth_scripts({from_hex("01"), from_hex("00000000")}, fields, small).error == script_error::script_too_large);

    // A witness that carries its own 6-of-6 multisig of mismatching signatures:
    // 36 verifications would be needed; the budget of 16 stops it.
    bytes bomb;
    for (int i = 0; i < 6; ++i) detail::append(bomb, ts::make_single_sig_witness(seed_n(static_cast<std::uint8_t>(i)), fields));
    for (int i = 0; i < 6; ++i) detail::append(bomb, cat({from_hex("0320"), ts::verify_key_from_seed(seed_n(static_cast<std::uint8_t>(100 + i)))}));
    bomb.insert(bomb.end(), {ts::op::check_multisig, 0x00, 6, 6});
    const ts::run_result r = ts::run_auth_scripts({bomb}, fields);
    CHECK(r.error == script_error::too_many_signature_checks);
    CHECK(r.signature_checks == ts::limits{}.max_signature_checks + 1);
    ts::limits generous;
    generous.max_signature_checks = 36;
    const ts::run_result all = ts::run_auth_scripts({bomb}, fields, generous);
    CHECK(all.error == script_error::none);
    CHECK(stack_hex(all) == std::vector<std::string>{"00"});
    CHECK(all.signature_checks == 36);
}

// ------------------------------------------------------------------ mutation loop

TEST_CASE("tapescript: truncated, bit-flipped and random scripts from the vectors never crash and never authenticate", "[tapescript][fuzz]") {
    const std::vector<script_pair> pairs = valid_pairs();
    REQUIRE(pairs.size() == 4);  // single-sig, 1-of-2 multisig, taproot key path, taproot script path
    std::mt19937 rng(20240605);
    std::size_t runs = 0;
    auto expect_false = [&](const bytes& witness, const bytes& lock, const message_fields& m) {
        const ts::run_result r = ts::run_auth_scripts({witness, lock}, m.view());
        ++runs;
        return !r.ok();
    };

    for (const script_pair& p : pairs) {
        INFO(p.name);
        REQUIRE(ts::run_auth_scripts({p.witness, p.lock}, p.fields.view()).ok());
        // Every strict prefix of the witness and of the lock.
        for (std::size_t n = 0; n < p.witness.size(); ++n)
            CHECK(expect_false(bytes(p.witness.begin(), p.witness.begin() + static_cast<std::ptrdiff_t>(n)), p.lock, p.fields));
        for (std::size_t n = 0; n < p.lock.size(); ++n)
            CHECK(expect_false(p.witness, bytes(p.lock.begin(), p.lock.begin() + static_cast<std::ptrdiff_t>(n)), p.fields));
        // Every single-bit flip of the witness.
        for (std::size_t i = 0; i < p.witness.size(); ++i)
            for (int bit = 0; bit < 8; ++bit) {
                bytes w = p.witness;
                w[i] ^= static_cast<std::uint8_t>(1u << bit);
                INFO("flip byte " << i << " bit " << bit);
                CHECK(expect_false(w, p.lock, p.fields));
            }
        // Every single-bit flip of the lock. Two kinds of byte may change and still
        // accept: the allowed-flags byte (more flags allowed) and, in a 1-of-2
        // multisig, the key nobody signed for. Every other flip must fail; none may crash.
        const bool multisig = p.lock.size() > 4 && p.lock[p.lock.size() - 4] == ts::op::check_multisig;
        std::vector<bool> may_pass(p.lock.size(), false);
        may_pass[multisig ? p.lock.size() - 3 : p.lock.size() - 1] = true;
        if (multisig) {
            const bytes message = p.fields.view().message(0);
            const bytes_view sig = bytes_view(p.witness).subspan(2, 64);
            for (std::size_t at = 2; at + 32 <= p.lock.size() - 4; at += 34)
                if (!detail::ed25519::verify(sig, message, bytes_view(p.lock).subspan(at, 32)))
                    for (std::size_t i = at; i < at + 32; ++i) may_pass[i] = true;
        }
        for (std::size_t i = 0; i < p.lock.size(); ++i)
            for (int bit = 0; bit < 8; ++bit) {
                bytes l = p.lock;
                l[i] ^= static_cast<std::uint8_t>(1u << bit);
                const bool rejected = expect_false(p.witness, l, p.fields);
                if (!may_pass[i]) {
                    INFO("lock flip byte " << i << " bit " << bit);
                    CHECK(rejected);
                }
            }
        // Random splices: witness bytes with random insertions, deletions and overwrites.
        for (int round = 0; round < 300; ++round) {
            bytes w = p.witness;
            const int edits = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < edits; ++e) {
                const std::size_t at = w.empty() ? 0 : rng() % w.size();
                switch (rng() % 3) {
                    case 0: w.insert(w.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(rng())); break;
                    case 1: if (!w.empty()) w.erase(w.begin() + static_cast<std::ptrdiff_t>(at)); break;
                    default: if (!w.empty()) w[at] = static_cast<std::uint8_t>(rng()); break;
                }
            }
            if (w == p.witness) continue;
            CHECK(expect_false(w, p.lock, p.fields));
        }
    }

    // Random scripts over the subset's opcodes and random bytes, as witnesses for
    // each real lock, and also on their own (where they only must not crash).
    const std::uint8_t alphabet[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x20, 0x23, 0x24, 0x2d, 0x46, 0x47, 0x5b, 0x20, 0x40, 0x41, 0xff};
    for (int round = 0; round < 2000; ++round) {
        bytes w(rng() % 160);
        for (auto& b : w) b = (rng() % 2) ? alphabet[rng() % sizeof alphabet] : static_cast<std::uint8_t>(rng());
        const script_pair& p = pairs[static_cast<std::size_t>(round) % pairs.size()];
        CHECK(expect_false(w, p.lock, p.fields));
        (void)ts::run_auth_scripts({w}, p.fields.view());
        (void)ts::run_auth_scripts({w, w}, p.fields.view());
    }
    std::cout << "tapescript mutation runs: " << runs << "\n";
}
