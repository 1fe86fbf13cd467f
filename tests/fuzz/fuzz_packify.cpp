// fuzz_packify.cpp - libFuzzer target for netaio::packify::unpack.
//
// Properties checked on every input:
//   * unpack (the std::error_code form) never throws and never crashes;
//   * whatever strict decoding accepts, lenient decoding accepts as the same value;
//   * a decoded value packs again (unless it is an int packify cannot encode), and
//     unpack(pack(v)) == v with pack(unpack(pack(v))) == pack(v) (canonical form).
#include <netaio/packify.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace {

[[noreturn]] void fail(const char* what, const std::error_code& ec = {}) {
    std::fprintf(stderr, "fuzz_packify: %s (%s)\n", what, ec ? ec.message().c_str() : "no error");
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace packify = netaio::packify;
    const netaio::bytes_view input(data, size);

    static const packify::decode_options strict{};
    static const packify::decode_options lenient = packify::python_lenient_options();

    std::error_code ec;
    const packify::value v = packify::unpack(input, strict, ec);
    std::error_code lenient_ec;
    const packify::value lv = packify::unpack(input, lenient, lenient_ec);
    if (ec) return 0;

    if (lenient_ec) fail("lenient decoding rejects what strict decoding accepts", lenient_ec);
    if (!(lv == v)) fail("lenient and strict decoding disagree");

    netaio::bytes packed;
    packify::pack_into(packed, v, packify::encode_options{}, ec);
    if (ec) {
        if (ec == netaio::errc::packify_not_encodable) return 0;
        fail("a decoded value does not pack", ec);
    }
    const packify::value again = packify::unpack(packed, strict, ec);
    if (ec) fail("pack(v) does not unpack", ec);
    if (!(again == v)) fail("unpack(pack(v)) != v");
    netaio::bytes repacked;
    packify::pack_into(repacked, again, packify::encode_options{}, ec);
    if (ec) fail("unpack(pack(v)) does not pack", ec);
    if (repacked != packed) fail("pack(unpack(pack(v))) != pack(v)");
    return 0;
}
