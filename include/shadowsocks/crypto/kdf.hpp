#pragma once
/// \file Key derivation: EVP_BytesToKey (MD5) for passwords, HKDF-SHA1 for session subkeys,
/// and the CSPRNG (keys given as base64 are decoded by codec/base64.hpp).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// OpenSSL's EVP_BytesToKey with MD5, no salt, one round: D_i = MD5(D_{i-1} || password),
/// key = D_1 || D_2 || ..., truncated to `key_size`. The legacy password KDF every peer uses.
std::vector<std::uint8_t> evp_bytes_to_key(std::string_view password, std::size_t key_size);

/// HKDF (RFC 5869) with SHA-1; writes `out.size()` bytes of output keying material.
/// An empty salt means HashLen zero bytes, as RFC 5869 says.
void hkdf_sha1(bytes_view ikm, bytes_view salt, bytes_view info, mutable_bytes out);

/// The Shadowsocks session subkey: HKDF-SHA1(key, salt, "ss-subkey"), `out.size()` bytes.
void derive_subkey(bytes_view key, bytes_view salt, mutable_bytes out);

/// The 2022 edition's session subkey (SIP022 2.2): BLAKE3 derive_key with the context
/// "shadowsocks 2022 session subkey" over key || salt, `out.size()` bytes.
void derive_subkey_2022(bytes_view key, bytes_view salt, mutable_bytes out);
/// Fills `out` from OpenSSL's CSPRNG; aborts if the generator fails (nothing safe to do then).
void random_bytes(mutable_bytes out);

/// A fresh salt (at most 32 bytes): CSPRNG output like `random_bytes`, drawn from a per-thread
/// reserve filled 1 KiB at a time, since every UDP packet needs one and a call into the
/// generator per packet showed in profiles. Salts are public, so holding the reserve in memory
/// reveals nothing; keys use `random_bytes`.
void random_salt(mutable_bytes out);

}  // namespace ss
