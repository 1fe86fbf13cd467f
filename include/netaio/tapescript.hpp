// netaio/tapescript.hpp - the tapescript subset behind TapescriptAuthPlugin:
// running a witness and a lock, and building the standard locks and witnesses
// byte for byte as tapescript v0.7.2 does (PROTOCOL.md §8.2, §8.2.1).
//
//   single-sig lock     03 20 <V> 23 <f>                  push V, OP_CHECK_SIG f
//   single-sig witness  03 40 <sig>  (or 03 41 <sig||g>)  push a signature
//   m-of-n lock         03 20 <V1> ... 03 20 <Vn> 46 <f> <m> <n>
//   m-of-n witness      m single-sig witnesses
//   taproot lock        03 20 <Q> 5b <f>                  Q = V + t·B commits to a script S
//   key-path witness    03 40 <sig for Q>                 reveals neither V nor S
//   script-path witness <what S needs> push(S) 03 20 <V>  reveals V and S, runs S
//
// Sans-I/O and fail-closed: run_auth_scripts never throws for bad scripts; any
// error (unknown opcode, truncated push, empty-stack pop, wrong key or signature
// length, disallowed sigflag, a limit exceeded) is reported and means "no".
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/ed25519_tweak.hpp>
#include <netaio/detail/sha256.hpp>
#include <netaio/detail/tapescript_machine.hpp>
#include <netaio/version.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <vector>

NETAIO_BEGIN_NAMESPACE

// Argument checks and encodings shared by the builders below.
namespace detail::tapescript_build {
inline void require_key(bytes_view key) {
    if (key.size() != ed25519::key_size) throw std::invalid_argument("netaio::tapescript: a verify key is 32 bytes");
}
// tapescript's signature encoding: R || s, with the sigflag appended when it is not 0.
inline bytes signature_bytes(const ed25519::signature& sig, std::uint8_t sigflag) {
    bytes out(sig.begin(), sig.end());
    if (sigflag != 0) out.push_back(sigflag);
    return out;
}
// tapescript refuses ff when signing: with netaio's three fields it would sign nothing.
inline void require_sigflag(std::uint8_t sigflag) {
    if (sigflag == 0xff) throw std::invalid_argument("netaio::tapescript: sigflag ff would sign no field");
}
}  // namespace detail::tapescript_build

namespace tapescript {

/// A 32-byte Ed25519 verify key (or tweaked key).
using verify_key = detail::ed25519::bytes32;
/// The intermediate values of a taproot tweak (commitment, hash, t, T, Q).
using tweak_values = detail::ed25519::tweak_values;

/// What a run of witness and lock scripts produced.
struct run_result {
    /// The first error met (script_error::none when every script ran to its end).
    script_error error = script_error::none;
    /// The final stack, bottom first (as far as the run got).
    std::vector<bytes> stack;
    /// Opcodes executed and signature verifications made (for limits and tests).
    std::size_t operations = 0;
    std::size_t signature_checks = 0;

    /// Authenticated: no error and the stack is exactly one item, ff.
    bool ok() const noexcept {
        return error == script_error::none && stack.size() == 1 && stack[0].size() == 1 && stack[0][0] == 0xff;
    }
    explicit operator bool() const noexcept { return ok(); }
};

/// Run `scripts` in order on one shared stack (tapescript's run_auth_scripts):
/// for netaio, {witness, lock}. Stops at the first error. Never throws for bad
/// scripts (only std::bad_alloc, and the bounds keep memory under ~1 MiB).
inline run_result run_auth_scripts(std::span<const bytes_view> scripts, const sigfields& fields,
                                   const limits& bounds = limits{}) {
    detail::tapescript_machine machine(fields, bounds);
    run_result out;
    for (bytes_view script : scripts) {
        out.error = machine.run(script);
        if (out.error != script_error::none) break;
    }
    out.operations = machine.operations();
    out.signature_checks = machine.signature_checks();
    out.stack = machine.take_stack();
    return out;
}

/// run_auth_scripts over a braced list: `run_auth_scripts({witness, lock}, fields)`.
inline run_result run_auth_scripts(std::initializer_list<bytes_view> scripts, const sigfields& fields,
                                   const limits& bounds = limits{}) {
    return run_auth_scripts(std::span<const bytes_view>(scripts.begin(), scripts.size()), fields, bounds);
}

// ---------------------------------------------------------------- building blocks

/// The shortest tapescript push of `data` (1 to 65535 bytes): `02 X` for one byte,
/// `03 <u8 len> X` up to 255 bytes, `04 <u16be len> X` above. Throws
/// std::invalid_argument for empty or larger data (the interpreter also refuses
/// items over 1024 bytes).
inline void append_push(bytes& out, bytes_view data) {
    if (data.empty() || data.size() > 0xFFFF) throw std::invalid_argument("netaio::tapescript: push of 1..65535 bytes only");
    if (data.size() == 1) {
        out.push_back(op::push0);
    } else if (data.size() <= 0xFF) {
        out.push_back(op::push1);
        out.push_back(static_cast<std::uint8_t>(data.size()));
    } else {
        out.push_back(op::push2);
        detail::append_u16be(out, static_cast<std::uint16_t>(data.size()));
    }
    detail::append(out, data);
}

/// The verify key of a 32-byte Ed25519 seed. Throws std::invalid_argument.
inline verify_key verify_key_from_seed(bytes_view seed) { return detail::ed25519::verify_key_from_seed(seed); }

/// The taproot tweak of internal key `internal_key` with committed script
/// `committed_script` (PROTOCOL.md §8.2.1). Throws std::invalid_argument when
/// the key is not a valid Ed25519 point (32 bytes, main subgroup).
inline tweak_values taproot_tweak(bytes_view internal_key, bytes_view committed_script) {
    tweak_values t;
    if (!detail::ed25519::taproot_tweak_script(internal_key, committed_script, t))
        throw std::invalid_argument("netaio::tapescript: the internal key is not a valid Ed25519 point");
    return t;
}


// ---------------------------------------------------------------- locks

/// `03 20 <vkey> 23 <allowed>`: "push vkey, OP_CHECK_SIG allowed".
inline bytes make_single_sig_lock(bytes_view vkey, std::uint8_t allowed_sigflags = 0) {
    detail::tapescript_build::require_key(vkey);
    bytes out;
    append_push(out, vkey);
    out.push_back(op::check_sig);
    out.push_back(allowed_sigflags);
    return out;
}

/// m-of-n multisig: each key pushed in order, then `46 <allowed> <m> <n>`.
/// Throws std::invalid_argument unless 1 <= m <= n <= 255 and every key is 32 bytes.
inline bytes make_multisig_lock(std::span<const verify_key> vkeys, std::size_t m, std::uint8_t allowed_sigflags = 0) {
    if (vkeys.empty() || vkeys.size() > 255 || m < 1 || m > vkeys.size())
        throw std::invalid_argument("netaio::tapescript: multisig needs 1 <= m <= n <= 255");
    bytes out;
    for (const verify_key& k : vkeys) append_push(out, k);
    out.push_back(op::check_multisig);
    out.push_back(allowed_sigflags);
    out.push_back(static_cast<std::uint8_t>(m));
    out.push_back(static_cast<std::uint8_t>(vkeys.size()));
    return out;
}

/// `03 20 <Q> 5b <allowed>` where Q tweaks `internal_key` with `committed_script`.
/// Neither the key nor the script appears in the lock. Throws std::invalid_argument.
inline bytes make_taproot_lock(bytes_view internal_key, bytes_view committed_script, std::uint8_t allowed_sigflags = 0) {
    detail::tapescript_build::require_key(internal_key);
    const tweak_values t = taproot_tweak(internal_key, committed_script);
    bytes out;
    append_push(out, t.tweaked_key);
    out.push_back(op::taproot);
    out.push_back(allowed_sigflags);
    return out;
}

// ---------------------------------------------------------------- witnesses

/// `03 40 <sig>`: the standard deterministic Ed25519 signature by `seed` over the
/// fields (crypto_sign_detached). With `sigflag` != 0 the fields it names are
/// left out and the flag is appended (`03 41 <sig || sigflag>`); the lock must
/// allow it. Throws std::invalid_argument for a seed that is not 32 bytes or
/// sigflag ff.
inline bytes make_single_sig_witness(bytes_view seed, const sigfields& fields, std::uint8_t sigflag = 0) {
    detail::tapescript_build::require_sigflag(sigflag);
    const bytes message = fields.message(sigflag);
    bytes out;
    append_push(out, detail::tapescript_build::signature_bytes(detail::ed25519::sign_with_seed(seed, message), sigflag));
    return out;
}

/// A witness for an m-of-n lock: one single-sig witness per seed, concatenated
/// (the lock matches each signature against any unused key, so order is free).
inline bytes make_multisig_witness(std::span<const bytes_view> seeds, const sigfields& fields, std::uint8_t sigflag = 0) {
    bytes out;
    for (bytes_view seed : seeds) detail::append(out, make_single_sig_witness(seed, fields, sigflag));
    return out;
}

/// Key path: `03 40 <sig>`, a signature valid for the tweaked key Q, made with
/// scalar x + t and tapescript's deterministic nonce, so Python's bytes are
/// reproduced. `seed` is the internal key's seed; `committed_script` is S.
inline bytes make_taproot_witness_keyspend(bytes_view seed, const sigfields& fields, bytes_view committed_script,
                                           std::uint8_t sigflag = 0) {
    detail::tapescript_build::require_sigflag(sigflag);
    // Only t is needed: a seed's own key is always a valid point, so the point
    // checks of taproot_tweak (two subgroup tests) would be wasted here.
    const detail::ed25519::bytes32 t =
        detail::ed25519::tweak_scalar(verify_key_from_seed(seed), crypto::sha256(committed_script));
    const bytes message = fields.message(sigflag);
    bytes out;
    append_push(out, detail::tapescript_build::signature_bytes(detail::ed25519::sign_keyspend(seed, t, message), sigflag));
    return out;
}

/// Script path suffix: `push(S) 03 20 <V>`. Prepend whatever S needs (for a
/// single-sig S, make_single_sig_witness of S's key). Throws std::invalid_argument
/// for an empty S, one over 1024 bytes, or a key that is not 32 bytes.
inline bytes make_taproot_witness_scriptspend(bytes_view internal_key, bytes_view committed_script) {
    detail::tapescript_build::require_key(internal_key);
    if (committed_script.empty() || committed_script.size() > limits{}.max_item_size)
        throw std::invalid_argument("netaio::tapescript: a committed script is 1..1024 bytes");
    bytes out;
    append_push(out, committed_script);
    append_push(out, internal_key);
    return out;
}

}  // namespace tapescript
NETAIO_END_NAMESPACE
