// tests/unit/test_crypto.cpp - netaio's crypto helpers against the Python golden vectors.
#include <netaio/crypto.hpp>

#include "vector_support.hpp"

#include <catch2/catch.hpp>

#include <iostream>
#include <string>
#include <vector>

using netaio::as_bytes_view;
using netaio::bytes;
using netaio::bytes_view;
using netaio::to_hex;
using netaio_test::hex;
using netaio_test::json;
namespace crypto = netaio::crypto;

namespace {

std::string hex_of(const crypto::digest& d) { return to_hex(d); }

// The spec's own worked values (PROTOCOL.md §5), all with key 00..1f and iv 00..0f.
bytes counting_bytes(std::size_t n) {
    bytes out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(i);
    return out;
}

}  // namespace

TEST_CASE("crypto: worked examples from PROTOCOL.md section 5", "[crypto]") {
    const bytes key = counting_bytes(32);
    const bytes iv = counting_bytes(16);

    CHECK(hex_of(crypto::derive_key({as_bytes_view("a"), as_bytes_view("b")})) ==
          "e5a01fee14e0ed5c48714f22180f25ad8365b53f9779f79dc4a3d7e93963f94a");
    CHECK(hex_of(crypto::derive_key(std::initializer_list<bytes_view>{})) == hex_of(crypto::sha256(bytes_view{})));
    CHECK(to_hex(crypto::keystream(key, iv, 70)) ==
          "4889b77c35cf1832854ddda0c4ca1b9368f11784be1c7d87bb950e63366b69b888f18d23b7fceee8473ac4a954b2c83506"
          "243a4c3522031640cd56d6b084a0ef37fa845d68ca");
    CHECK(to_hex(crypto::symcrypt(key, iv, as_bytes_view("hello world"))) == "20ecdb105aef6f5df721b9");
    CHECK(hex_of(crypto::hmac(key, iv, as_bytes_view("message"))) ==
          "0157d53dd00eb3f12edd4546fc62588082398a3d0a82bc1dad47d2f0d27a330e");
    CHECK(hex_of(crypto::sha256(as_bytes_view("test"))) ==
          "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

TEST_CASE("crypto: sha256_stream_cipher.json primitive vectors", "[crypto][vectors]") {
    const json doc = netaio_test::load_vectors("sha256_stream_cipher.json");
    std::size_t checked = 0;

    for (const json& c : doc.at("cases")) {
        const std::string kind = c.at("kind").get<std::string>();
        INFO(kind << ": " << c.at("description").get<std::string>());

        if (kind == "derive_key") {
            std::vector<bytes> parts;
            for (const auto& p : c.at("parts_hex")) parts.push_back(hex(p));
            std::vector<bytes_view> views(parts.begin(), parts.end());
            CHECK(hex_of(crypto::derive_key(views)) == c.at("output_hex").get<std::string>());
            ++checked;
        } else if (kind == "keystream") {
            const bytes key = hex(c.at("key_hex"));
            const bytes iv = hex(c.at("iv_hex"));
            const auto length = c.at("length").get<std::size_t>();
            const auto start = c.at("start").get<std::uint64_t>();
            const bytes expected = hex(c.at("output_hex"));
            CHECK(to_hex(crypto::keystream(key, iv, length, start)) == to_hex(expected));
            // The stream is position-addressed: slicing the start-0 stream gives the same bytes.
            const bytes whole = crypto::keystream(key, iv, static_cast<std::size_t>(start) + length);
            CHECK(to_hex(bytes_view(whole).subspan(static_cast<std::size_t>(start))) == to_hex(expected));
            ++checked;
        } else if (kind == "symcrypt") {
            const bytes key = hex(c.at("key_hex"));
            const bytes iv = hex(c.at("iv_hex"));
            const bytes pt = hex(c.at("plaintext_hex"));
            const bytes ct = hex(c.at("ciphertext_hex"));
            CHECK(crypto::symcrypt(key, iv, pt) == ct);
            CHECK(crypto::decrypt(key, iv, ct) == pt);
            const crypto::encrypted e = crypto::encrypt(key, pt, iv);
            CHECK(e.iv == iv);
            CHECK(e.ciphertext == ct);
            bytes in_place = pt;
            crypto::symcrypt_in_place(key, iv, in_place);
            CHECK(in_place == ct);
            ++checked;
        } else if (kind == "hmac") {
            const bytes key = hex(c.at("key_hex"));
            const bytes iv = hex(c.at("iv_hex"));
            const bytes msg = hex(c.at("message_hex"));
            const bytes mac = hex(c.at("mac_hex"));
            CHECK(hex_of(crypto::derive_key({key, iv, as_bytes_view("mac")})) ==
                  c.at("derived_mac_key_hex").get<std::string>());
            CHECK(to_hex(crypto::hmac(key, iv, msg)) == to_hex(mac));
            CHECK(crypto::check_hmac(key, iv, msg, mac));
            // The multi-part form MACs the concatenation without copying it.
            const std::size_t half = msg.size() / 2;
            CHECK(to_hex(crypto::hmac(key, iv, {bytes_view(msg).first(half), bytes_view(msg).subspan(half)})) ==
                  to_hex(mac));
            ++checked;
        } else if (kind == "seal") {
            const bytes key = hex(c.at("key_hex"));
            const bytes pt = hex(c.at("plaintext_hex"));
            const bytes expected = hex(c.at("ciphergram_hex"));
            netaio_test::scripted_randomness script(c.at("random"));
            CHECK(to_hex(crypto::seal(key, pt, script.random())) == to_hex(expected));
            CHECK(script.remaining_draws() == 0);
            CHECK(crypto::unseal(key, expected) == pt);
            ++checked;
        } else if (kind == "plugin_encrypt") {
            // The plugin's keystream layer alone: symcrypt under the hashed plugin key.
            const bytes plugin_key = hex(c.at("plugin_key_hex"));
            const json& config = c.at("config");
            const bytes raw_key = c.at("key_is_bytes").get<bool>() ? hex(config.at("key"))
                                                                    : netaio::to_bytes(config.at("key").get<std::string>());
            CHECK(to_hex(crypto::sha256(raw_key)) == to_hex(plugin_key));
            CHECK(to_hex(crypto::symcrypt(plugin_key, hex(c.at("iv_hex")), hex(c.at("plaintext_hex")))) ==
                  c.at("ciphertext_hex").get<std::string>());
            ++checked;
        }
    }

    std::cout << "crypto vectors checked (sha256_stream_cipher.json): " << checked << "\n";
    // 5 derive_key + 10 keystream + 6 symcrypt + 4 hmac + 3 seal + 17 plugin_encrypt.
    CHECK(checked == 45);
}

TEST_CASE("crypto: hmac_auth.json MAC computations", "[crypto][vectors]") {
    const json doc = netaio_test::load_vectors("hmac_auth.json");
    std::size_t checked = 0;

    for (const json& c : netaio_test::cases_of_kind(doc, "make")) {
        INFO("make: " << c.at("description").get<std::string>());
        const json& config = c.at("config");
        const bytes secret = c.at("secret_is_bytes").get<bool>()
                                 ? hex(config.at("secret"))
                                 : netaio::to_bytes(config.at("secret").get<std::string>());
        const crypto::digest plugin_key = crypto::sha256(secret);
        CHECK(hex_of(plugin_key) == c.at("plugin_key_hex").get<std::string>());

        // The nonce used is the one in the output auth fields.
        bytes nonce;
        for (const auto& item : c.at("output").at("auth_fields").at("items"))
            if (item.at(0).at("value").get<std::string>() == c.at("fields").at("nonce").get<std::string>())
                nonce = hex(item.at(1).at("hex"));
        REQUIRE(nonce.size() == crypto::iv_size);

        const bytes mac_input = hex(c.at("mac_input_hex"));
        const bytes mac = hex(c.at("hmac_hex"));
        CHECK(hex_of(crypto::derive_key({plugin_key, nonce, as_bytes_view("mac")})) ==
              c.at("mac_key_hex").get<std::string>());
        CHECK(to_hex(crypto::hmac(plugin_key, nonce, mac_input)) == to_hex(mac));
        CHECK(crypto::check_hmac(plugin_key, nonce, mac_input, mac));
        ++checked;
    }

    std::cout << "crypto vectors checked (hmac_auth.json make cases): " << checked << "\n";
    CHECK(checked == 9);
}

TEST_CASE("crypto: check_hmac rejects wrong MACs", "[crypto]") {
    const bytes key = counting_bytes(32);
    const bytes iv = counting_bytes(16);
    const crypto::digest mac = crypto::hmac(key, iv, as_bytes_view("message"));

    CHECK(crypto::check_hmac(key, iv, as_bytes_view("message"), mac));
    CHECK_FALSE(crypto::check_hmac(key, iv, as_bytes_view("messagE"), mac));
    CHECK_FALSE(crypto::check_hmac(key, counting_bytes(15), as_bytes_view("message"), mac));

    for (std::size_t i = 0; i < mac.size(); ++i) {
        crypto::digest flipped = mac;
        flipped[i] ^= 0x01;
        CHECK_FALSE(crypto::check_hmac(key, iv, as_bytes_view("message"), flipped));
    }
    // Length must be exactly 32: a prefix or an extension of the right MAC fails.
    CHECK_FALSE(crypto::check_hmac(key, iv, as_bytes_view("message"), bytes_view(mac).first(31)));
    bytes longer(mac.begin(), mac.end());
    longer.push_back(0);
    CHECK_FALSE(crypto::check_hmac(key, iv, as_bytes_view("message"), longer));
    CHECK_FALSE(crypto::check_hmac(key, iv, as_bytes_view("message"), bytes_view{}));
}

TEST_CASE("crypto: the 136-byte pad makes hmac differ from standard HMAC-SHA256", "[crypto]") {
    const bytes key = counting_bytes(32);
    const bytes iv = counting_bytes(16);
    const crypto::digest k = crypto::derive_key({key, iv, as_bytes_view("mac")});
    std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> standard{};
    const bytes msg = netaio::to_bytes("message");
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, k.data(), k.size());
    crypto_auth_hmacsha256_update(&st, msg.data(), msg.size());
    crypto_auth_hmacsha256_final(&st, standard.data());
    CHECK(to_hex(standard) != hex_of(crypto::hmac(key, iv, msg)));
}

TEST_CASE("crypto: encrypt draws a fresh iv only when none is given", "[crypto]") {
    const bytes key = counting_bytes(32);
    const crypto::encrypted a = crypto::encrypt(key, as_bytes_view("hello"));
    const crypto::encrypted b = crypto::encrypt(key, as_bytes_view("hello"));
    CHECK(a.iv.size() == crypto::iv_size);
    CHECK(a.iv != b.iv);
    CHECK(crypto::decrypt(key, a.iv, a.ciphertext) == netaio::to_bytes("hello"));

    CHECK(crypto::random_bytes(0).empty());
    CHECK(crypto::random_bytes(33).size() == 33);
}

TEST_CASE("crypto: keystream ranges and in-place XOR", "[crypto]") {
    const bytes key = counting_bytes(32);
    const bytes iv = counting_bytes(16);
    const bytes whole = crypto::keystream(key, iv, 200);
    for (std::size_t start : {0u, 1u, 31u, 32u, 33u, 63u, 64u, 150u}) {
        for (std::size_t len : {0u, 1u, 31u, 32u, 33u, 50u}) {
            if (start + len > whole.size()) continue;
            INFO("start " << start << " length " << len);
            bytes part(len);
            crypto::keystream(key, iv, std::span<std::uint8_t>(part), start);
            CHECK(part == bytes(whole.begin() + static_cast<std::ptrdiff_t>(start),
                                whole.begin() + static_cast<std::ptrdiff_t>(start + len)));
        }
    }
    // Past the 2^32-block counter the stream does not exist.
    bytes one(1);
    CHECK_THROWS_AS(crypto::keystream(key, iv, std::span<std::uint8_t>(one), (std::uint64_t{1} << 32) * 32),
                    std::length_error);
}

TEST_CASE("crypto: unseal rejects tampering", "[crypto]") {
    const bytes key = counting_bytes(32);
    bytes sealed = crypto::seal(key, as_bytes_view("secret text"));
    CHECK(crypto::unseal(key, sealed) == netaio::to_bytes("secret text"));

    std::error_code ec;
    bytes tampered = sealed;
    tampered.back() ^= 1;
    CHECK(crypto::unseal(key, tampered, ec).empty());
    CHECK(ec == netaio::errc::decrypt_failed);
    CHECK_THROWS_AS(crypto::unseal(key, tampered), netaio::error);
    CHECK(crypto::unseal(key, bytes_view(sealed).first(47), ec).empty());
    CHECK(ec == netaio::errc::decrypt_failed);
}

TEST_CASE("crypto: prepared_key gives the same results as the raw key", "[crypto]") {
    const bytes key = netaio::to_bytes("any key at all");
    const bytes iv = counting_bytes(16);
    const crypto::prepared_key prepared(key);
    CHECK(prepared.key_hash() == crypto::sha256(key));

    const bytes msg = netaio::to_bytes("a message spanning more than one keystream block, 32 bytes each");
    CHECK(crypto::hmac(prepared, iv, {msg}) == crypto::hmac(key, iv, msg));
    CHECK(crypto::check_hmac(prepared, iv, {msg}, crypto::hmac(key, iv, msg)));

    bytes a = msg, b = msg;
    crypto::symcrypt_in_place(prepared, iv, a);
    crypto::symcrypt_in_place(key, iv, b);
    CHECK(a == b);
    CHECK(a == crypto::symcrypt(key, iv, msg));

    bytes stream(40);
    crypto::keystream(prepared, iv, std::span<std::uint8_t>(stream), 7);
    CHECK(stream == crypto::keystream(key, iv, 40, 7));
}
