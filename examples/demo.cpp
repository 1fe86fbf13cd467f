// examples/demo.cpp - a tour of netaio's wire format, without sockets.
//
// Builds the messages a netaio node exchanges, encodes them to the exact bytes the
// Python library netaio 0.0.9 writes, feeds the bytes back through the stream
// decoder in awkward pieces, and shows how hostile input is refused.
#include <netaio.hpp>

#include <cstdio>
#include <string>

namespace {

void show(const char* title, const netaio::bytes& wire) {
    std::printf("  %-34s %s\n", title, netaio::to_hex(wire).c_str());
}

std::string text(const netaio::bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

int main() {
    using namespace netaio;
    std::printf("netaio for C++ %s - wire-compatible with Python netaio %s\n\n", NETAIO_VERSION_STRING,
                python_netaio_compat_version);

    // tag::build[]
    // A message is a type, a body (uri + content) and auth fields.
    Message publish = Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI);
    bytes wire = publish.encode();  // header(9) | packify auth dict | u16 uri_len, uri, content
    // end::build[]
    std::printf("1. Encoding (the same bytes Python netaio writes)\n");
    show("PUBLISH_URI echo/hello:", wire);
    show("OK (make_ok_msg):", make_ok_msg().encode());
    show("default NOT_FOUND reply:", make_not_found_msg().encode());

    std::printf("\n2. Auth fields are a packify dict; packify is available on its own\n");
    Message signed_msg = publish;
    signed_msg.auth_data.set("nonce", bytes(16, 0x01));
    signed_msg.auth_data.set("ts", from_hex("6553f100"));
    show("auth data:", signed_msg.auth_data.encode());
    show("packify {\"port\": 8888, \"tags\": [..]}:",
         packify::pack(packify::dict{{"port", 8888}, {"tags", packify::list{"a", bytes{1, 2}}}}));

    std::printf("\n3. Stream decoding: three frames arriving 5 bytes at a time\n");
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
            std::printf("  frame %d: type %d uri '%s' content '%s' auth fields %zu\n", frames,
                        static_cast<int>(m->type()), text(m->body.uri).c_str(), text(m->body.content).c_str(),
                        m->auth_data.size());
        }
    }

    std::printf("\n4. Hostile input gets a typed error, never a crash\n");
    bytes bad_type = wire;
    bad_type[0] = 99;
    bytes bad_crc = wire;
    bad_crc.back() ^= 0xff;
    bytes zero_auth = wire;
    zero_auth[1] = zero_auth[2] = 0;
    for (auto& [name, data] : {std::pair<const char*, bytes>{"unknown type 99", bad_type},
                               {"flipped body byte", bad_crc},
                               {"auth_length 0", zero_auth},
                               {"count bomb in auth", from_hex("000008000241d912ffca40ffffffff01010000")}}) {
        std::error_code ec;
        (void)Message::decode(data, ec);
        std::printf("  %-20s -> %s\n", name, ec.message().c_str());
    }
    std::printf("\ndone: %d frames decoded\n", frames);
    return frames == 3 ? 0 : 1;
}
