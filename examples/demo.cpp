// examples/demo.cpp - a tour of netaio: the wire format, then a CRUD server and
// client talking to each other in one process.
//
// Part 1 builds messages, encodes them to the exact bytes the Python library
// netaio 0.0.9 writes, feeds the bytes back through the stream decoder in awkward
// pieces, and shows how hostile input is refused.
//
// Part 2 starts the CRUD server of crud_app.hpp on a free loopback port, with
// every security layer on (outer HMAC, outer cipher, inner HMAC on the writes),
// and runs the scripted client session against it, all on one io_context. It is
// the same code as netaio_crud_server + netaio_crud_client.
//
// Exit code 0 when both parts went as expected.
#include "crud_app.hpp"

#include <asio/io_context.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>

namespace {

void show(const char* title, const netaio::bytes& wire) {
    std::printf("  %-26s %s\n", title, netaio::to_hex(wire).c_str());
}

/// Part 1; true when the decoder found the three frames.
bool codec_tour() {
    using namespace netaio;
    std::printf("Part 1: the wire format\n\n");

    // tag::build[]
    // A message is a type, a body (uri + content) and auth fields.
    Message publish = Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI);
    bytes wire = publish.encode();  // header(9) | packify auth dict | u16 uri_len, uri, content
    // end::build[]
    std::printf("1. Encoding (the same bytes Python netaio writes)\n");
    show("PUBLISH_URI echo/hello:", wire);
    show("OK (make_ok_msg):", make_ok_msg().encode());
    Message signed_msg = publish;  // auth fields are a packify dict
    signed_msg.auth_data.set("nonce", bytes(16, 0x01));
    signed_msg.auth_data.set("ts", from_hex("6553f100"));
    show("with nonce and ts fields:", signed_msg.encode());

    std::printf("\n2. Stream decoding: three frames arriving 5 bytes at a time\n");
    bytes stream;
    for (const Message& m : {publish, signed_msg, make_ok_msg("stored", "item/1")}) {
        bytes f = m.encode();
        stream.insert(stream.end(), f.begin(), f.end());
    }
    stream_decoder decoder;
    int frames = 0;
    for (std::size_t pos = 0; pos < stream.size(); pos += 5) {
        decoder.feed(bytes_view(stream).subspan(pos, std::min<std::size_t>(5, stream.size() - pos)));
        std::error_code ec;
        while (auto m = decoder.next(ec)) {
            ++frames;
            std::printf("  frame %d: %-11s uri %-8s content %-8s auth fields %zu\n", frames, crud::type_name(m->type()).c_str(),
                        crud::quoted(m->body.uri).c_str(), crud::quoted(m->body.content).c_str(), m->auth_data.size());
        }
    }

    std::printf("\n3. Hostile input gets a typed error, never a crash\n");
    bytes bad_type = wire;
    bad_type[0] = 99;
    bytes bad_crc = wire;
    bad_crc.back() ^= 0xff;
    for (auto& [name, data] : {std::pair<const char*, bytes>{"unknown type 99", bad_type},
                               {"flipped body byte", bad_crc},
                               {"count bomb in auth", from_hex("000008000241d912ffca40ffffffff01010000")}}) {
        std::error_code ec;
        (void)Message::decode(data, ec);
        std::printf("  %-20s -> %s\n", name, ec.message().c_str());
    }
    return frames == 3;
}

// tag::demo_session[]
/// Part 2's coroutine: connect both clients, run the session, stop the server
/// gracefully. Server and clients live in main (they outlive io.run()); parameters
/// by value.
asio::awaitable<bool> client_then_stop(netaio::TCPServer& server, netaio::TCPClient& client,
                                       netaio::TCPClient& subscriber, netaio::handler_plugins writes) {
    co_await client.connect();
    co_await subscriber.connect();  // the second connection of the publish/subscribe steps
    const bool ok = co_await crud::run_session(client, subscriber, std::move(writes), std::chrono::seconds(5));
    client.close_all();
    subscriber.close_all();
    co_await server.stop();
    co_return ok;
}
// end::demo_session[]

/// Part 2; true when every step of the session got the expected reply.
bool crud_in_one_process() {
    std::printf("\nPart 2: a CRUD server and client in one process\n\n");

    // The same settings the two programs take on their command lines.
    crud::settings settings;
    settings.hmac = "demo outer hmac secret";
    settings.cipher = "demo outer cipher key";
    settings.inner_hmac = "demo inner hmac secret";
    const crud::security_layers layers = crud::make_layers(settings);

    // tag::demo_main[]
    asio::io_context io;
    crud::store data;

    netaio::tcp_server_options server_options;
    server_options.host = "127.0.0.1";
    server_options.port = 0;  // any free port
    server_options.auth_plugin = layers.auth;
    server_options.cipher_plugin = layers.cipher;
    netaio::TCPServer server(io.get_executor(), server_options);
    crud::install_routes(server, data, layers.writes);
    server.start();
    std::printf("server listening on 127.0.0.1:%u (outer hmac + cipher, inner hmac on writes)\n\n",
                static_cast<unsigned>(server.local_port()));

    netaio::tcp_client_options client_options;
    client_options.host = "127.0.0.1";
    client_options.port = server.local_port();
    client_options.auth_plugin = layers.auth;  // the same secrets on both sides
    client_options.cipher_plugin = layers.cipher;
    client_options.request_timeout = std::chrono::seconds(5);
    netaio::TCPClient client(io.get_executor(), client_options);
    // A second connection for the publish/subscribe steps, with plugins of its own: the
    // server sends both subscribers the same NOTIFY_URI frame, and one HMAC plugin (one
    // replay cache) shared by the two clients would refuse the second copy as a replay.
    const crud::security_layers subscriber_layers = crud::make_layers(settings);
    client_options.auth_plugin = subscriber_layers.auth;
    client_options.cipher_plugin = subscriber_layers.cipher;
    netaio::TCPClient subscriber(io.get_executor(), client_options);

    bool ok = false;
    asio::co_spawn(io, client_then_stop(server, client, subscriber, layers.writes),
                   [&](std::exception_ptr e, bool session_ok) {
                       ok = !e && session_ok;
                       if (!e) return;
                       client.close_all();  // let io.run() return
                       subscriber.close_all();
                       server.close();
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                           std::printf("failed: %s\n", ex.what());
                       }
                   });
    io.run();  // until the coroutine has stopped the server
    // end::demo_main[]
    return ok;
}

}  // namespace

int main() {
    std::printf("netaio for C++ %s - wire-compatible with Python netaio %s\n\n", NETAIO_VERSION_STRING,
                netaio::python_netaio_compat_version);
    const bool codec_ok = codec_tour();
    bool crud_ok = false;
    try {
        crud_ok = crud_in_one_process();
    } catch (const std::exception& e) {
        std::printf("failed: %s\n", e.what());
    }
    std::printf("\ndemo %s\n", codec_ok && crud_ok ? "ok" : "FAILED");
    return codec_ok && crud_ok ? 0 : 1;
}
