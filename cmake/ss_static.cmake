# SS_STATIC: every library linked in, so that the one executable runs on any Linux of its
# architecture (docs/install.md): `ldd` says "not a dynamic executable".
#
# - OpenSSL, c-ares and RE2 from Debian's static archives (libssl-dev, libc-ares-dev,
#   libre2-dev); glibc's and libstdc++'s with -static.
# - spdlog and fmt header-only: Debian ships them as shared libraries only.
# - No libqrencode (no static archive in Debian): --print-url prints the URL and says that this
#   build draws no QR code.
# - No glibc NSS: a static glibc would dlopen the host's NSS modules (libnss_systemd,
#   libnss_mdns, ...), built for another glibc, for anything /etc/nsswitch.conf names beyond
#   "files" and "dns". So names are resolved by c-ares (/etc/hosts, then the name servers of
#   /etc/resolv.conf) and `-a user` reads /etc/passwd and /etc/group itself (SS_NO_NSS).
if(SS_SANITIZE OR SS_FUZZ)
  message(FATAL_ERROR "SS_STATIC does not go with SS_SANITIZE or SS_FUZZ")
endif()
#
# On Windows (cmake/mingw-w64.cmake) the libraries are the ones scripts/build-windows.sh
# cross-built, libqrencode among them, and names are resolved by Windows' own resolver.
set(OPENSSL_USE_STATIC_LIBS TRUE)
# pkg_check_modules(IMPORTED_TARGET) finds each -l with find_library: make that the archive.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
add_link_options(-static)
if(WIN32)
  add_compile_definitions(CARES_STATICLIB)
else()
  add_compile_definitions(SS_NO_NSS SS_NO_QRENCODE)
endif()
