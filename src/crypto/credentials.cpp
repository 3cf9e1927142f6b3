#include "shadowsocks/crypto/credentials.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/crypto/blake3.hpp"

namespace ss {

credential_table::credential_table() {
  if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) {
    throw std::runtime_error("no random bytes for the credential table");
  }
}

credential_table::digest credential_table::digest_of(std::string_view user,
                                                     std::string_view password) const noexcept {
  // The user name's length first, so that ("ab", "c") and ("a", "bc") differ.
  std::uint8_t length[8];
  store_be64(length, user.size());
  auto h = blake3_hasher::keyed(key_);
  h.update({length, sizeof length});
  h.update({reinterpret_cast<const std::uint8_t*>(user.data()), user.size()});
  h.update({reinterpret_cast<const std::uint8_t*>(password.data()), password.size()});
  digest d{};
  h.finalize({d.data(), d.size()});
  return d;
}

void credential_table::add(std::string_view user, std::string_view password) {
  digests_.push_back(digest_of(user, password));
}

bool credential_table::accepts(std::string_view user, std::string_view password) const noexcept {
  auto d = digest_of(user, password);
  int matched = 0;
  for (const auto& entry : digests_)
    matched |= CRYPTO_memcmp(entry.data(), d.data(), d.size()) == 0 ? 1 : 0;
  return matched != 0;
}

}  // namespace ss
