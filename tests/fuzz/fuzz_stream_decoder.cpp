// fuzz_stream_decoder.cpp - libFuzzer target for the frame decoders.
//
// Input layout: byte 0 selects the chunk size (data[0] + 1 bytes, so 0 means
// byte by byte); the rest is the stream. The stream is decoded twice with
// netaio::stream_decoder, once fed whole and once fed in chunks. Properties:
//   * both runs give the same frames and the same errors (the result must not
//     depend on where the transport splits the stream) and always make progress;
//   * after a fatal error every later next() fails with errc::decoder_failed;
//   * netaio::decode_datagram accepts the stream exactly when the stream decoder
//     finds one frame, no error and no leftover bytes in it, and both agree on it;
//   * every decoded frame re-encodes to a frame that decodes to the same auth data
//     and body, and whose encoding is then stable.
//
// Protocol of stream_decoder::next(ec): a frame, or nullopt with ec clear (needs
// more bytes), or nullopt with ec set. errc::checksum_mismatch drops one frame
// and decoding continues; any other error is fatal for the stream.
#include <netaio/errors.hpp>
#include <netaio/frame_decoder.hpp>
#include <netaio/message.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_stream_decoder: %s\n", what);
    std::abort();
}

struct outcome {
    std::vector<netaio::Message> frames;
    std::vector<std::error_code> errors;  // in order; the last one is fatal when `fatal`
    bool fatal = false;
    bool leftover = false;  // bytes of an incomplete frame remain buffered
};

void drain(netaio::stream_decoder& decoder, outcome& out, std::size_t max_results) {
    for (;;) {
        if (out.frames.size() + out.errors.size() > max_results)
            fail("the decoder returns more results than the input can hold (no progress?)");
        std::error_code ec;
        std::optional<netaio::Message> frame = decoder.next(ec);
        if (frame) {
            if (ec) fail("next() returned a frame and an error");
            out.frames.push_back(std::move(*frame));
            continue;
        }
        if (!ec) return;  // needs more bytes
        out.errors.push_back(ec);
        if (ec == netaio::errc::checksum_mismatch) continue;
        out.fatal = true;
        return;
    }
}

outcome decode_stream(netaio::bytes_view stream, std::size_t chunk) {
    // Every frame or dropped frame consumes at least its 9-byte header.
    const std::size_t max_results = stream.size() / 9 + 2;
    netaio::stream_decoder decoder{netaio::frame_limits{}};
    outcome out;
    std::size_t pos = 0;
    while (pos < stream.size() && !out.fatal) {
        const std::size_t n = std::min(chunk, stream.size() - pos);
        decoder.feed(stream.subspan(pos, n));
        pos += n;
        drain(decoder, out, max_results);
    }
    if (!out.fatal) drain(decoder, out, max_results);
    if (decoder.failed() != out.fatal) fail("failed() disagrees with the errors next() returned");
    if (out.fatal) {
        std::error_code ec;
        if (decoder.next(ec) || ec != netaio::errc::decoder_failed)
            fail("next() after a fatal error does not fail with decoder_failed");
    } else {
        out.leftover = decoder.mid_frame();
    }
    return out;
}

void check_reencode(const netaio::Message& m) {
    netaio::bytes first;
    std::error_code ec;
    m.encode_into(first, ec);
    if (ec) return;  // e.g. auth data holding a value packify cannot encode
    const netaio::Message again = netaio::decode_datagram(first, ec);
    if (ec) fail("a decoded frame, re-encoded, does not decode");
    if (!(again.auth_data == m.auth_data) || !(again.body == m.body) || again.type() != m.type())
        fail("a decoded frame, re-encoded and decoded, changed");
    netaio::bytes second;
    again.encode_into(second, ec);
    if (ec || second != first) fail("re-encoding is not stable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t chunk = std::size_t{data[0]} + 1;
    const netaio::bytes_view stream(data + 1, size - 1);

    const outcome whole = decode_stream(stream, stream.size() == 0 ? 1 : stream.size());
    const outcome chunked = decode_stream(stream, chunk);

    if (whole.fatal != chunked.fatal) fail("fed whole vs in chunks: one run failed, the other did not");
    if (whole.errors != chunked.errors) fail("fed whole vs in chunks: different errors");
    if (whole.leftover != chunked.leftover) fail("fed whole vs in chunks: different leftover");
    if (whole.frames != chunked.frames) fail("fed whole vs in chunks: different frames");

    std::error_code ec;
    const netaio::Message datagram = netaio::decode_datagram(stream, ec);
    const bool one_frame = whole.frames.size() == 1 && whole.errors.empty() && !whole.leftover;
    if (!ec != one_frame) fail("decode_datagram and the stream decoder disagree on a single frame");
    if (!ec && !(datagram == whole.frames.front())) fail("decode_datagram and the stream decoder decode differently");

    for (const netaio::Message& m : whole.frames) check_reencode(m);
    return 0;
}
