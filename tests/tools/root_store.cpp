// Windows only, for tests/windows: puts a certificate into the user's trusted root store, or
// takes it out, as certmgr.msc or `certutil -user -addstore Root` would (Wine has neither).
//   root_store add FILE.der | root_store remove FILE.der
// Exit code 0 when done, 1 with one line on standard error when not.
// clang-format off
#include <windows.h>
#include <wincrypt.h>
// clang-format on

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "add" && std::string(argv[1]) != "remove")) {
    std::fprintf(stderr, "usage: root_store add|remove FILE.der\n");
    return 1;
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::vector<BYTE> der{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (der.empty()) {
    std::fprintf(stderr, "root_store: cannot read %s\n", argv[2]);
    return 1;
  }
  HCERTSTORE root = ::CertOpenSystemStoreW(0, L"ROOT");
  if (root == nullptr) {
    std::fprintf(stderr, "root_store: cannot open ROOT (error %lu)\n", ::GetLastError());
    return 1;
  }
  bool done = false;
  if (std::string(argv[1]) == "add") {
    done = ::CertAddEncodedCertificateToStore(root, X509_ASN_ENCODING, der.data(),
                                              static_cast<DWORD>(der.size()),
                                              CERT_STORE_ADD_REPLACE_EXISTING, nullptr) != FALSE;
  } else {
    // Taken out of the store it went into: the registry store of the user's trusted roots
    // (CertDeleteCertificateFromStore on the system store's collection does nothing in Wine).
    ::CertCloseStore(root, 0);
    HKEY key = nullptr;
    root = nullptr;
    if (::RegOpenKeyExW(HKEY_CURRENT_USER, L"Software\\Microsoft\\SystemCertificates\\Root", 0,
                        KEY_ALL_ACCESS, &key) == ERROR_SUCCESS) {
      root = ::CertOpenStore(CERT_STORE_PROV_REG, 0, 0, 0, key);
      ::RegCloseKey(key);
    }
    if (root == nullptr) {
      std::fprintf(stderr, "root_store: cannot open the user's ROOT registry store\n");
      return 1;
    }
    const CERT_CONTEXT* wanted = ::CertCreateCertificateContext(X509_ASN_ENCODING, der.data(),
                                                                static_cast<DWORD>(der.size()));
    const CERT_CONTEXT* found =
        wanted == nullptr ? nullptr
                          : ::CertFindCertificateInStore(root, X509_ASN_ENCODING, 0,
                                                         CERT_FIND_EXISTING, wanted, nullptr);
    // CertDeleteCertificateFromStore frees `found`.
    done = found != nullptr && ::CertDeleteCertificateFromStore(found) != FALSE;
    if (wanted != nullptr) ::CertFreeCertificateContext(wanted);
  }
  if (!done) std::fprintf(stderr, "root_store: %s failed (error %lu)\n", argv[1], ::GetLastError());
  ::CertCloseStore(root, 0);
  return done ? 0 : 1;
}
