// tests/unit/message_vector_support.hpp - build the Message a vector case describes.
#pragma once

#include "packify_vector_value.hpp"

#include <netaio/message.hpp>

namespace netaio_test {

/// AuthFields from a vector's {"type": "dict", "items": [[key, value], ...]}.
inline netaio::AuthFields auth_fields_of(const json& d) {
    netaio::AuthFields out;
    for (const auto& kv : d.at("items")) out.set(packify_value_of(kv.at(0)).as_string(), packify_value_of(kv.at(1)));
    return out;
}

/// The message a case describes through message_type, uri_hex, content_hex, auth_fields.
inline netaio::Message message_of(const json& c) {
    netaio::Body body{hex(c.at("uri_hex")), hex(c.at("content_hex"))};
    return netaio::Message::prepare(std::move(body), static_cast<netaio::MessageType>(c.at("message_type").get<int>()),
                                    auth_fields_of(c.at("auth_fields")));
}

}  // namespace netaio_test
