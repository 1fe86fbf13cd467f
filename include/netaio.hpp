// netaio.hpp - umbrella header: every public netaio header.
//
// Include this for convenience, or the specific headers under <netaio/...> to keep
// compile times down.
#pragma once

#include <netaio/auth_fields.hpp>
#include <netaio/bytes.hpp>
#include <netaio/crypto.hpp>
#include <netaio/errors.hpp>
#include <netaio/frame_decoder.hpp>
#include <netaio/message.hpp>
#include <netaio/message_type.hpp>
#include <netaio/packify.hpp>
#include <netaio/packify_integer.hpp>
#include <netaio/packify_json.hpp>
#include <netaio/packify_value.hpp>
#include <netaio/peer.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/replay_cache.hpp>
#include <netaio/version.hpp>
