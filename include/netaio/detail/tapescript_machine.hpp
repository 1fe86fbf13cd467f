// netaio/detail/tapescript_machine.hpp - a fail-closed interpreter for the subset
// of tapescript v0.7.2 that netaio's TapescriptAuthPlugin needs (PROTOCOL.md §8.2,
// §8.2.1). Public users include <netaio/tapescript.hpp>; the vocabulary types
// (sigfields, limits, script_error, opcodes) are defined here so the machine and
// the public header share them.
//
// The subset: OP_FALSE, OP_TRUE, OP_PUSH0/1/2, OP_VERIFY, OP_CHECK_SIG(_VERIFY),
// OP_CHECK_MULTISIG(_VERIFY), OP_EVAL and OP_TAPROOT. Anything else - an unknown
// opcode, a push running past the end, a pop from an empty stack, a key that is
// not 32 bytes, a signature that is not 64/65 bytes, a sigflag the script does
// not allow - is an error, and an error always means "not authenticated".
//
// Beyond tapescript, every run is bounded so that a hostile witness costs little:
// item size (1024, as tapescript), stack depth, OP_EVAL nesting (128, tapescript's
// callstack limit), script size, operation count and, above all, the number of
// signature verifications (a witness may itself contain OP_CHECK_MULTISIG with
// 255 keys and 255 signatures: 65,025 verifications unbounded).
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/ed25519_tweak.hpp>
#include <netaio/detail/sha256.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

NETAIO_BEGIN_NAMESPACE
namespace tapescript {

/// Opcodes of the supported subset (tapescript v0.7.2 byte values).
namespace op {
inline constexpr std::uint8_t false_ = 0x00;                 ///< push 00
inline constexpr std::uint8_t true_ = 0x01;                  ///< push ff
inline constexpr std::uint8_t push0 = 0x02;                  ///< push the next 1 byte
inline constexpr std::uint8_t push1 = 0x03;                  ///< u8 size, then that many bytes
inline constexpr std::uint8_t push2 = 0x04;                  ///< u16be size, then that many bytes
inline constexpr std::uint8_t verify = 0x20;                 ///< pop; error unless any bit is set
inline constexpr std::uint8_t check_sig = 0x23;              ///< flags byte; pop key, pop sig; push ff/00
inline constexpr std::uint8_t check_sig_verify = 0x24;       ///< check_sig then verify
inline constexpr std::uint8_t eval = 0x2d;                   ///< pop a script and run it
inline constexpr std::uint8_t check_multisig = 0x46;         ///< flags, m, n bytes; pop n keys, m sigs
inline constexpr std::uint8_t check_multisig_verify = 0x47;  ///< check_multisig then verify
inline constexpr std::uint8_t taproot = 0x5b;                ///< flags byte; key path or script path
}  // namespace op

/// Number of signature fields (sigfield1 .. sigfield8).
inline constexpr std::size_t sigfield_count = 8;

/// The signed material: sigfield1..sigfield8, each present or absent.
///
/// A signature covers the concatenation of the present fields in order, minus
/// field i when bit (i - 1) of the signature's sigflag byte is set. The views
/// must outlive every use of the object.
struct sigfields {
    std::array<std::optional<bytes_view>, sigfield_count> field{};

    /// netaio's fields (PROTOCOL.md §8.2): 1 = body bytes (u16be uri length ||
    /// uri || content), 2 = nonce, 3 = ts as 4 big-endian bytes.
    static sigfields for_message(bytes_view body, bytes_view nonce, bytes_view ts4) {
        sigfields f;
        f.field[0] = body;
        f.field[1] = nonce;
        f.field[2] = ts4;
        return f;
    }

    /// The message a signature with `sigflag` covers.
    bytes message(std::uint8_t sigflag) const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < sigfield_count; ++i)
            if (field[i] && !(sigflag & (1u << i))) total += field[i]->size();
        bytes out;
        out.reserve(total);
        for (std::size_t i = 0; i < sigfield_count; ++i)
            if (field[i] && !(sigflag & (1u << i))) detail::append(out, *field[i]);
        return out;
    }
};

/// Bounds on one run of run_auth_scripts (all scripts together).
struct limits {
    /// Largest stack item in bytes (tapescript's limit; a larger push is an error).
    std::size_t max_item_size = 1024;
    /// Most items on the stack at once.
    std::size_t max_stack_items = 1024;
    /// Deepest OP_EVAL nesting (tapescript's callstack limit).
    std::size_t max_call_depth = 128;
    /// Largest script (witness or lock) accepted.
    std::size_t max_script_size = 65535;
    /// Most opcodes executed, nested scripts included. Real witnesses and locks
    /// run a handful; this stops push/verify padding from burning CPU.
    std::size_t max_operations = 4096;
    /// Most Ed25519 verifications and taproot tweaks (the expensive steps), so a
    /// hostile witness costs at most this many times a legitimate one. Single-sig
    /// and both taproot paths need 1; an m-of-n multisig at most
    /// m * n - m * (m - 1) / 2 (12 for 3-of-5). Raise it for larger multisigs.
    std::size_t max_signature_checks = 16;
};

/// Why a run failed. Every value but `none` makes check() false.
enum class script_error : std::uint8_t {
    none = 0,
    unknown_opcode,             ///< a byte outside the supported subset
    truncated_script,           ///< an argument or push runs past the end of the script
    stack_underflow,            ///< a pop or peek on an empty stack
    stack_full,                 ///< more than limits::max_stack_items items
    item_too_large,             ///< a push over limits::max_item_size bytes
    script_too_large,           ///< a script over limits::max_script_size bytes
    empty_script,               ///< OP_EVAL of an empty item
    bad_key_length,             ///< a verify key (or taproot root) that is not 32 bytes
    bad_signature_length,       ///< a signature that is not 64 or 65 bytes
    disallowed_sigflag,         ///< a sigflag bit the script's allowed-flags byte does not set
    verify_failed,              ///< OP_VERIFY (or a *_VERIFY op) on a value with no bit set
    invalid_point,              ///< taproot script path: V or t·B is not a valid point
    call_depth_exceeded,        ///< OP_EVAL nested deeper than limits::max_call_depth
    too_many_operations,        ///< more than limits::max_operations opcodes
    too_many_signature_checks,  ///< more than limits::max_signature_checks verifications
};

/// A short English description of `e`.
inline const char* describe(script_error e) noexcept {
    switch (e) {
        case script_error::none: return "no error";
        case script_error::unknown_opcode: return "unknown or unsupported opcode";
        case script_error::truncated_script: return "script truncated";
        case script_error::stack_underflow: return "pop from an empty stack";
        case script_error::stack_full: return "stack full";
        case script_error::item_too_large: return "stack item too large";
        case script_error::script_too_large: return "script too large";
        case script_error::empty_script: return "OP_EVAL of an empty script";
        case script_error::bad_key_length: return "verify key is not 32 bytes";
        case script_error::bad_signature_length: return "signature is not 64 or 65 bytes";
        case script_error::disallowed_sigflag: return "disallowed sigflag";
        case script_error::verify_failed: return "OP_VERIFY failed";
        case script_error::invalid_point: return "each point must be a valid ed25519 point";
        case script_error::call_depth_exceeded: return "callstack limit exceeded";
        case script_error::too_many_operations: return "operation limit exceeded";
        case script_error::too_many_signature_checks: return "signature check limit exceeded";
    }
    return "unknown script error";
}

}  // namespace tapescript

namespace detail {

/// One run of the interpreter: a stack shared by every script it runs.
class tapescript_machine {
public:
    using error = tapescript::script_error;

    tapescript_machine(const tapescript::sigfields& fields, const tapescript::limits& limits)
        : fields_(fields), limits_(limits) {}

    /// Run `script` on the current stack. `depth` is the OP_EVAL nesting level
    /// (0 for a top-level script).
    error run(bytes_view script, std::size_t depth = 0) {
        if (script.size() > limits_.max_script_size) return error::script_too_large;
        std::size_t pos = 0;
        while (pos < script.size()) {
            if (++operations_ > limits_.max_operations) return error::too_many_operations;
            const std::uint8_t opcode = script[pos++];
            error e = error::none;
            switch (opcode) {
                case tapescript::op::false_: e = push(bytes{0x00}); break;
                case tapescript::op::true_: e = push(bytes{0xff}); break;
                case tapescript::op::push0: e = push_bytes(script, pos, 1); break;
                case tapescript::op::push1: {
                    std::uint8_t size = 0;
                    if (!read_u8(script, pos, size)) return error::truncated_script;
                    e = push_bytes(script, pos, size);
                    break;
                }
                case tapescript::op::push2: {
                    if (script.size() - pos < 2) return error::truncated_script;
                    const std::size_t size = get_u16be(script.data() + pos);
                    pos += 2;
                    e = push_bytes(script, pos, size);
                    break;
                }
                case tapescript::op::verify: e = verify(); break;
                case tapescript::op::check_sig:
                case tapescript::op::check_sig_verify: {
                    std::uint8_t allowed = 0;
                    if (!read_u8(script, pos, allowed)) return error::truncated_script;
                    e = check_sig(allowed);
                    if (e == error::none && opcode == tapescript::op::check_sig_verify) e = verify();
                    break;
                }
                case tapescript::op::check_multisig:
                case tapescript::op::check_multisig_verify: {
                    std::uint8_t allowed = 0, m = 0, n = 0;
                    if (!read_u8(script, pos, allowed) || !read_u8(script, pos, m) || !read_u8(script, pos, n))
                        return error::truncated_script;
                    e = check_multisig(allowed, m, n);
                    if (e == error::none && opcode == tapescript::op::check_multisig_verify) e = verify();
                    break;
                }
                case tapescript::op::eval: e = eval(depth); break;
                case tapescript::op::taproot: {
                    std::uint8_t allowed = 0;
                    if (!read_u8(script, pos, allowed)) return error::truncated_script;
                    e = taproot(allowed, depth);
                    break;
                }
                default: return error::unknown_opcode;
            }
            if (e != error::none) return e;
        }
        return error::none;
    }

    /// The stack, bottom first.
    const std::vector<bytes>& stack() const noexcept { return stack_; }
    std::vector<bytes> take_stack() noexcept { return std::move(stack_); }
    std::size_t operations() const noexcept { return operations_; }
    std::size_t signature_checks() const noexcept { return signature_checks_; }

private:
    static bool read_u8(bytes_view script, std::size_t& pos, std::uint8_t& out) noexcept {
        if (pos >= script.size()) return false;
        out = script[pos++];
        return true;
    }

    error push(bytes item) {
        if (item.size() > limits_.max_item_size) return error::item_too_large;
        if (stack_.size() >= limits_.max_stack_items) return error::stack_full;
        stack_.push_back(std::move(item));
        return error::none;
    }

    // Push script[pos, pos + size) and advance; the size is checked before copying.
    error push_bytes(bytes_view script, std::size_t& pos, std::size_t size) {
        if (script.size() - pos < size) return error::truncated_script;
        if (size > limits_.max_item_size) return error::item_too_large;
        const bytes_view item = script.subspan(pos, size);
        pos += size;
        return push(bytes(item.begin(), item.end()));
    }

    error pop(bytes& out) {
        if (stack_.empty()) return error::stack_underflow;
        out = std::move(stack_.back());
        stack_.pop_back();
        return error::none;
    }

    // tapescript truthiness: true when any bit is set.
    static bool truthy(bytes_view item) noexcept {
        return std::any_of(item.begin(), item.end(), [](std::uint8_t b) { return b != 0; });
    }

    error verify() {
        bytes item;
        if (error e = pop(item); e != error::none) return e;
        return truthy(item) ? error::none : error::verify_failed;
    }

    error spend_signature_check() {
        if (++signature_checks_ > limits_.max_signature_checks) return error::too_many_signature_checks;
        return error::none;
    }

    // The shared core of OP_CHECK_SIG, OP_CHECK_MULTISIG and the taproot key path.
    error check_signature(std::uint8_t allowed, bytes_view key, bytes_view sig, bool& valid) {
        valid = false;
        if (key.size() != ed25519::key_size) return error::bad_key_length;
        if (sig.size() != ed25519::signature_size && sig.size() != ed25519::signature_size + 1)
            return error::bad_signature_length;
        const std::uint8_t sigflag = sig.size() > ed25519::signature_size ? sig[ed25519::signature_size] : 0;
        if ((sigflag & static_cast<std::uint8_t>(~allowed)) != 0) return error::disallowed_sigflag;
        if (error e = spend_signature_check(); e != error::none) return e;
        if (!cached_message_ || cached_flag_ != sigflag) {
            cached_message_ = fields_.message(sigflag);
            cached_flag_ = sigflag;
        }
        valid = ed25519::verify(sig.first(ed25519::signature_size), *cached_message_, key);
        return error::none;
    }

    error push_bool(bool value) { return push(bytes{value ? std::uint8_t{0xff} : std::uint8_t{0x00}}); }

    // OP_CHECK_SIG: pop the key, then the signature.
    error check_sig(std::uint8_t allowed) {
        bytes key, sig;
        if (error e = pop(key); e != error::none) return e;
        if (error e = pop(sig); e != error::none) return e;
        bool valid = false;
        if (error e = check_signature(allowed, key, sig, valid); e != error::none) return e;
        return push_bool(valid);
    }

    // OP_CHECK_MULTISIG: pop n keys, then m signatures. Each signature is tried
    // against the keys not used yet, in pop order; a matching key is used up.
    // True when every signature matched and no two matching signatures are the
    // same bytes (tapescript counts distinct signatures), so one signature can
    // neither satisfy two slots nor reuse a key.
    error check_multisig(std::uint8_t allowed, std::size_t m, std::size_t n) {
        std::vector<bytes> keys(n), sigs(m);
        for (auto& k : keys)
            if (error e = pop(k); e != error::none) return e;
        for (auto& s : sigs)
            if (error e = pop(s); e != error::none) return e;
        std::vector<const bytes*> matched;
        for (const bytes& sig : sigs) {
            for (std::size_t i = 0; i < keys.size(); ++i) {
                bool valid = false;
                if (error e = check_signature(allowed, keys[i], sig, valid); e != error::none) return e;
                if (valid) {
                    keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));
                    if (std::none_of(matched.begin(), matched.end(), [&](const bytes* b) { return *b == sig; }))
                        matched.push_back(&sig);
                    break;
                }
            }
        }
        return push_bool(matched.size() == m);
    }

    // OP_EVAL: pop a script and run it on this stack, one level deeper.
    error eval(std::size_t depth) {
        bytes script;
        if (error e = pop(script); e != error::none) return e;
        if (script.empty()) return error::empty_script;
        if (depth + 1 > limits_.max_call_depth) return error::call_depth_exceeded;
        return run(script, depth + 1);
    }

    // OP_TAPROOT (PROTOCOL.md §8.2.1): pop the root Q; a 32-byte item under it
    // selects the script path (V, then the committed script S), anything else the
    // key path (a signature checked against Q with the allowed flags).
    error taproot(std::uint8_t allowed, std::size_t depth) {
        bytes root;
        if (error e = pop(root); e != error::none) return e;
        if (root.size() != ed25519::key_size) return error::bad_key_length;
        if (stack_.empty()) return error::stack_underflow;
        if (stack_.back().size() != ed25519::key_size) {
            if (error e = push(std::move(root)); e != error::none) return e;
            return check_sig(allowed);
        }
        bytes vkey, script;
        if (error e = pop(vkey); e != error::none) return e;
        if (error e = pop(script); e != error::none) return e;
        if (error e = spend_signature_check(); e != error::none) return e;  // a scalar mult and two point checks
        ed25519::tweak_values tweak;
        if (!ed25519::taproot_tweak_script(vkey, script, tweak)) return error::invalid_point;
        if (!std::equal(root.begin(), root.end(), tweak.tweaked_key.begin())) return push_bool(false);
        if (error e = push(std::move(script)); e != error::none) return e;
        return eval(depth);
    }

    const tapescript::sigfields& fields_;
    const tapescript::limits& limits_;
    std::vector<bytes> stack_;
    std::size_t operations_ = 0;
    std::size_t signature_checks_ = 0;
    std::optional<bytes> cached_message_;
    std::uint8_t cached_flag_ = 0;
};

}  // namespace detail
NETAIO_END_NAMESPACE
