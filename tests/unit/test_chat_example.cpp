// Tests of examples/chat: three clients talk through a relay over loopback; the
// relay sees only ciphertext, and what a hostile relay does to a frame (tamper,
// re-label, replay, reflect, misdeliver) is refused and counted at the recipient,
// never handed to the application.
#include "../../examples/chat/chat_app.hpp"
#include "loopback_support.hpp"

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using netaio_test::eventually;
using netaio_test::pause;
using netaio_test::run_loopback;

/// A relay and alice, bob and carol connected to it, each knowing the others' keys.
struct chat_fixture {
    explicit chat_fixture(asio::io_context& io)
        : relay(io.get_executor(), chat::relay_options()),
          alice(io.get_executor(), options("alice")),
          bob(io.get_executor(), options("bob")),
          carol(io.get_executor(), options("carol")) {
        relay.on_frame = [this](const chat::relay_frame& f) { seen.push_back(f); };
        for (chat::client* c : clients()) {
            c->on_message = [this, c](const chat::chat_message& m) { inbox[c->name()].push_back(m); };
        }
    }

    chat::client_options options(std::string name) {
        if (relay.port() == 0) relay.start();  // on first use, so the clients know the port
        chat::client_options o;
        o.name = std::move(name);
        o.port = relay.port();
        o.timeout = 2000ms;
        return o;
    }
    std::vector<chat::client*> clients() { return {&alice, &bob, &carol}; }

    /// The last NOTIFY_URI the relay forwarded to `to`.
    netaio::Message last_forwarded_to(const std::string& to) const {
        for (auto it = seen.rbegin(); it != seen.rend(); ++it)
            if (it->dir == chat::relay_frame::direction::forwarded && it->to == to) return netaio::Message::decode(it->frame);
        FAIL("nothing was forwarded to " << to);
        return {};
    }
    const netaio::Peer& record_of(const std::string& id) {
        const netaio::Peer* p = relay.server().peers().by_id(netaio::to_bytes(id));
        REQUIRE(p != nullptr);
        return *p;
    }

    // Declared first: the relay's and clients' hooks write to them.
    std::vector<chat::relay_frame> seen;
    std::map<std::string, std::vector<chat::chat_message>> inbox;
    netaio::DefaultPeerPlugin peer_plugin;
    chat::relay relay;
    chat::client alice;
    chat::client bob;
    chat::client carol;
};

asio::awaitable<void> connect_all(chat_fixture& f) {
    for (chat::client* c : f.clients()) co_await c->connect();
    for (chat::client* c : f.clients()) {
        std::vector<std::string> others;
        for (chat::client* o : f.clients())
            if (o != c) others.push_back(o->name());
        const bool found = co_await c->wait_for_contacts(others, 2000ms);
        REQUIRE(found);
    }
}

asio::awaitable<void> close_all(chat_fixture& f) {
    for (chat::client* c : f.clients()) c->close();
    co_await f.relay.stop();
}

asio::awaitable<void> every_pair_through_the_relay(asio::io_context& io) {
    chat_fixture f(io);
    co_await connect_all(f);

    // The relay learned every client through peer management, with its keys.
    CHECK(f.relay.server().peers().size() == 3);
    for (chat::client* c : f.clients()) {
        const netaio::Peer& record = f.record_of(c->name());
        const auto contact = chat::contact_record(record, f.peer_plugin);
        REQUIRE(contact);
        for (chat::client* o : f.clients()) {
            if (o == c) continue;
            REQUIRE(o->contacts().count(c->name()) == 1);
            CHECK(o->contacts().at(c->name()).data == record.data);  // pinned what the relay served
        }
    }

    std::map<std::string, std::vector<chat::chat_message>> expected;
    std::vector<std::string> plaintexts;
    for (chat::client* from : f.clients()) {
        for (chat::client* to : f.clients()) {
            if (from == to) continue;
            const std::string text = "secret from " + from->name() + " to " + to->name() + ": 7f3a-plaintext-marker";
            plaintexts.push_back(text);
            expected[to->name()].push_back(chat::chat_message{from->name(), text});
            co_await from->send(to->name(), text);
        }
    }
    co_await eventually([&] { return f.alice.delivered() + f.bob.delivered() + f.carol.delivered() == 6; }, 2000ms);

    for (chat::client* c : f.clients()) {
        const auto& got = f.inbox[c->name()];
        const auto& want = expected[c->name()];
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            CHECK(got[i].from == want[i].from);
            CHECK(got[i].text == want[i].text);
        }
        CHECK(c->rejected() == 0);
    }
    CHECK(f.relay.forwarded() == 6);

    // What the relay received (6 envelopes) and sent (6 notifications), byte for
    // byte: no plaintext, not even its distinctive marker or the inner uri.
    REQUIRE(f.seen.size() == 12);
    for (const chat::relay_frame& frame : f.seen) {
        for (const std::string& text : plaintexts) CHECK_FALSE(chat::contains(frame.frame, netaio::as_bytes_view(text)));
        CHECK_FALSE(chat::contains(frame.frame, netaio::as_bytes_view("plaintext-marker")));
        CHECK_FALSE(chat::contains(frame.frame, netaio::as_bytes_view("dm/")));
    }

    // The relay knows every public key and no secret one: whatever key pair it makes
    // up, the box does not open for it.
    netaio::x25519_cipher_options relay_keys;
    relay_keys.seed = netaio::crypto::random_bytes(32);
    relay_keys.encrypt_uri = true;
    const netaio::X25519CipherPlugin relay_box(relay_keys);
    for (const chat::relay_frame& frame : f.seen) {
        if (frame.dir != chat::relay_frame::direction::received) continue;
        netaio::Message inner = netaio::Message::decode(frame.sealed);
        const netaio::plugin_context ctx(&f.record_of(frame.from), &f.peer_plugin);
        CHECK(relay_box.decrypt(inner, ctx) == netaio::errc::decrypt_failed);
    }

    co_await close_all(f);
}

using tamper_fn = std::function<void(netaio::Message&)>;

/// Send alice -> bob with `tamper` installed at the relay; bob must refuse it for `reason`.
/// (Callers pass named std::function locals: a capturing lambda temporary inside a
/// co_await expression is destroyed twice by GCC 12.)
asio::awaitable<void> expect_bob_refuses(chat_fixture& f, tamper_fn tamper, std::string reason) {
    const auto delivered = f.bob.delivered();
    const auto rejected = f.bob.rejected();
    const auto handled = f.inbox["bob"].size();
    f.relay.tamper = std::move(tamper);
    co_await f.alice.send("bob", "transfer 100 coins to alice");
    f.relay.tamper = nullptr;
    co_await eventually([&] { return f.bob.rejected() > rejected; }, 2000ms);
    co_await pause(20ms);  // a wrong delivery would have arrived by now too
    CHECK(f.bob.rejected() == rejected + 1);
    CHECK(f.bob.rejected(reason) >= 1);
    CHECK(f.bob.delivered() == delivered);
    CHECK(f.inbox["bob"].size() == handled);  // on_message never saw it
}

/// `victim` gets `notify` pushed by the relay and must refuse it for `reason`.
asio::awaitable<void> expect_refused_push(chat_fixture& f, chat::client& victim, const netaio::Message& notify,
                                          std::string reason) {
    const auto delivered = victim.delivered();
    const auto rejected = victim.rejected();
    const auto handled = f.inbox[victim.name()].size();
    REQUIRE(f.relay.push(victim.name(), notify));
    co_await eventually([&] { return victim.rejected() > rejected; }, 2000ms);
    co_await pause(20ms);
    CHECK(victim.rejected() == rejected + 1);
    CHECK(victim.rejected(reason) >= 1);
    CHECK(victim.delivered() == delivered);
    CHECK(f.inbox[victim.name()].size() == handled);
}

std::string reason_of(netaio::errc e) { return netaio::make_error_code(e).message(); }

asio::awaitable<void> hostile_relay(asio::io_context& io) {
    chat_fixture f(io);
    co_await connect_all(f);

    // One honest message first: its notification is what the relay replays below.
    co_await f.alice.send("bob", "hello bob");
    co_await eventually([&] { return f.bob.delivered() == 1; }, 2000ms);
    const netaio::Message honest = f.last_forwarded_to("bob");

    // Flip one ciphertext byte and fix every CRC: the signature no longer verifies.
    const netaio::DefaultPeerPlugin* plugin = &f.peer_plugin;
    const tamper_fn flip = [plugin](netaio::Message& m) { REQUIRE(chat::flip_sealed_byte(m, *plugin)); };
    co_await expect_bob_refuses(f, flip, reason_of(netaio::errc::auth_failed));

    // Flip a byte without fixing the sealed frame's CRC: not even a frame.
    const tamper_fn naive_flip = [](netaio::Message& m) {
        m.body.content.back() ^= 0x01;
        m = netaio::Message::prepare(std::move(m.body), m.type());  // the outer frame stays valid
    };
    co_await expect_bob_refuses(f, naive_flip, std::string(chat::client::malformed));

    // Re-label alice's message as carol's: it verifies only under alice's pinned key.
    const netaio::Peer carol = f.record_of("carol");
    const tamper_fn as_carol = [plugin, carol](netaio::Message& m) { REQUIRE(chat::relabel_sender(m, carol, *plugin)); };
    co_await expect_bob_refuses(f, as_carol, reason_of(netaio::errc::auth_failed));

    // Re-label as a name bob never heard of, with alice's keys in the offered record:
    // bob pins the new name to those keys (first use) - and still the inner
    // "dm/alice/bob" gives the re-labelling away.
    netaio::Peer stranger = f.record_of("alice");
    stranger.id = netaio::to_bytes("mallory");
    const tamper_fn as_mallory = [plugin, stranger](netaio::Message& m) {
        REQUIRE(chat::relabel_sender(m, stranger, *plugin));
    };
    co_await expect_bob_refuses(f, as_mallory, std::string(chat::client::misaddressed));

    // Replay the honest frame: Ed25519AuthPlugin's replay cache refuses it.
    co_await expect_refused_push(f, f.bob, honest, reason_of(netaio::errc::replayed));

    // Send alice's frame back to alice as if bob had sent it: her own key, reflected.
    netaio::Message reflected = honest;
    REQUIRE(chat::relabel_sender(reflected, f.record_of("bob"), f.peer_plugin));
    co_await expect_refused_push(f, f.alice, reflected, reason_of(netaio::errc::reflected));

    // Deliver alice's frame for bob to carol: alice's signature is good, but the box
    // is for bob and does not open for carol.
    co_await expect_refused_push(f, f.carol, honest, reason_of(netaio::errc::decrypt_failed));

    // A notification that is not one at all.
    const netaio::Message junk =
        netaio::Message::prepare(netaio::Body::prepare("not packify", "chat/alice"), netaio::MessageType::NOTIFY_URI);
    co_await expect_refused_push(f, f.bob, junk, std::string(chat::client::malformed));

    // After all that, honest traffic still flows.
    co_await f.alice.send("bob", "still here");
    co_await eventually([&] { return f.bob.delivered() == 2; }, 2000ms);
    CHECK(f.inbox["bob"].back().text == "still here");
    CHECK(f.inbox["bob"].back().from == "alice");

    co_await close_all(f);
}

asio::awaitable<void> relay_refusals(asio::io_context& io) {
    chat_fixture f(io);
    co_await connect_all(f);
    // A recipient the relay does not know, and one the client does not know.
    bool unknown_refused = false;
    try {
        co_await f.alice.send("dave", "anyone?");
    } catch (const netaio::error& e) {
        unknown_refused = e.code() == netaio::errc::missing_peer_data;
    }
    CHECK(unknown_refused);
    bool too_long_refused = false;
    try {
        const std::string too_long(chat::max_text_size + 1, 'x');
        co_await f.alice.send("bob", too_long);
    } catch (const netaio::error& e) {
        too_long_refused = e.code() == netaio::errc::content_too_long;
    }
    CHECK(too_long_refused);
    // The longest text allowed fits the relay's limit and arrives whole.
    const std::string longest(chat::max_text_size, 'y');
    co_await f.alice.send("bob", longest);
    co_await eventually([&] { return f.bob.delivered() == 1; }, 2000ms);
    CHECK(f.inbox["bob"].back().text == longest);
    // The reused "_peers" route lists the three clients (and nothing secret).
    const netaio::Message peers = co_await f.alice.node().request("_peers");
    const netaio::packify::value ids = netaio::packify::unpack(peers.body.content);
    const auto* list = ids.get_if<netaio::packify::list>();
    REQUIRE(list != nullptr);
    CHECK(list->items.size() == 3);
    co_await close_all(f);
}

}  // namespace

TEST_CASE("chat: names and relay notifications are checked", "[chat]") {
    CHECK(chat::valid_name("alice"));
    CHECK(chat::valid_name("bob_2-x"));
    CHECK_FALSE(chat::valid_name(""));
    CHECK_FALSE(chat::valid_name("a/b"));
    CHECK_FALSE(chat::valid_name(std::string(33, 'a')));

    netaio::DefaultPeerPlugin plugin;
    netaio::Peer sender;
    sender.id = netaio::to_bytes("alice");
    sender.data = netaio::packify::pack(netaio::packify::dict{{"name", "alice"}});
    const netaio::bytes sealed = netaio::to_bytes("sealed bytes");
    const netaio::Message notify = chat::make_notify(sender, sealed, plugin);
    const auto parts = chat::parse_notify(notify);
    REQUIRE(parts);
    CHECK(parts->sender == "alice");
    CHECK(parts->sealed == sealed);
    CHECK(plugin.unpack(parts->record).id == sender.id);
    CHECK_FALSE(chat::contact_record(sender, plugin));  // no "pubkey" / "vk": not a contact

    netaio::Message wrong_uri = notify;
    wrong_uri.body.uri = netaio::to_bytes("chat/a/b");
    CHECK_FALSE(chat::parse_notify(wrong_uri));
    netaio::Message wrong_type = notify;
    wrong_type.header.message_type = netaio::MessageType::PUBLISH_URI;
    CHECK_FALSE(chat::parse_notify(wrong_type));
}

TEST_CASE("chat: three clients, every pair, the relay sees only ciphertext", "[chat]") {
    run_loopback([](asio::io_context& io) { return every_pair_through_the_relay(io); }, 15s);
}

TEST_CASE("chat: what a hostile relay does is refused and counted, never delivered", "[chat]") {
    run_loopback([](asio::io_context& io) { return hostile_relay(io); }, 20s);
}

TEST_CASE("chat: unknown recipients and oversized messages are refused at the sender", "[chat]") {
    run_loopback([](asio::io_context& io) { return relay_refusals(io); }, 15s);
}
