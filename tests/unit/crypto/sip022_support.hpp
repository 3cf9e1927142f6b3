#pragma once
// Shared by the 2022 edition's unit tests: the methods and deterministic keys.

#include <string_view>

#include "shadowsocks/crypto/cipher.hpp"
#include "test_support.hpp"

namespace ss::test {

/// The three 2022 methods.
inline constexpr std::string_view methods_2022[] = {
    "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305"};

/// A key of `method`'s size, the same for the same seed.
inline master_key psk_of(std::string_view method, std::uint32_t seed = 1) {
  const auto* c = *find_cipher(method);
  return *master_key::from_bytes(*c, pseudo_random(c->key_size, seed));
}

}  // namespace ss::test
