#pragma once
// OpenSSL algorithm objects, fetched once for the life of the process (EVP_*_fetch is a lookup
// with locks; doing it per session or per chunk would show in profiles).

#include <openssl/evp.h>

#include "shadowsocks/crypto/cipher.hpp"

namespace ss::detail {

/// The EVP cipher of `c`, fetched on first use.
const EVP_CIPHER* evp_cipher(const cipher_info& c);
/// MD5, for EVP_BytesToKey.
const EVP_MD* evp_md5();
/// SHA-1, for HKDF-SHA1.
const EVP_MD* evp_sha1();

}  // namespace ss::detail
