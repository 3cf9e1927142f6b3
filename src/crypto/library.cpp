#include "shadowsocks/crypto/library.hpp"

#include <openssl/crypto.h>

#include <cstdlib>

namespace ss {

void start_openssl() {
  // OpenSSL runs its configuration step once: the first call decides whether it reads a file.
  if (std::getenv("OPENSSL_CONF") == nullptr) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
  }
}

}  // namespace ss
