# Installation (cmake --install) and the Debian package (cpack -G DEB).
#
#   bin/shadowsocks-cpp, and ss-local, ss-server, ss-tunnel, ss-redir, ss-manager linked to it
#   lib/systemd/system/ss-{local,server,tunnel,redir}@.service   ExecStart pointing at bin/
#   share/man/man1/ss-{local,server,tunnel,redir,manager}.1
#   share/doc/shadowsocks-cpp/*.md and examples/*.json
#
# The units' ExecStart is rewritten at install time from the prefix actually used, so that
# `cmake --install build --prefix /opt/x` and the package (prefix /usr) both point at their
# own binaries.
include(GNUInstallDirs)

install(TARGETS shadowsocks-cpp RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The programs' names: relative links to the one executable, in the package as installed.
foreach(program ${SS_PROGRAM_NAMES})
  install(CODE "
    file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    file(CREATE_LINK shadowsocks-cpp
         \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/${program}\" SYMBOLIC)
    message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/${program} -> shadowsocks-cpp\")
  ")
endforeach()
# The man pages carry the version of project(), filled in now, and the documents' folder,
# filled in at install time from the prefix actually used (as the units' ExecStart below).
set(SS_DOCDIR "@SS_DOCDIR@")  # kept for the install step
foreach(program ss-local ss-server ss-tunnel ss-redir ss-manager)
  configure_file(docs/man/${program}.1.in ${PROJECT_BINARY_DIR}/man/${program}.1.in @ONLY)
  install(CODE "
    file(READ \"${PROJECT_BINARY_DIR}/man/${program}.1.in\" text)
    string(REPLACE \"@SS_DOCDIR@\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\" text \"\${text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/man/${program}.1\" \"\${text}\")
    file(INSTALL \"${PROJECT_BINARY_DIR}/man/${program}.1\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_MANDIR}/man1\")
  ")
endforeach()
install(FILES README.md LICENSE docs/guide.md docs/configuration.md docs/troubleshooting.md
              docs/udp.md docs/security.md docs/performance.md docs/performance-chart.png
              docs/architecture.md docs/plugins.md docs/acl.md docs/operations.md docs/redir.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES config/server.json config/local.json config/tunnel.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

foreach(kind local server tunnel redir)
  set(unit "ss-${kind}@.service")
  install(CODE "
    file(READ \"${PROJECT_SOURCE_DIR}/config/systemd/${unit}\" text)
    string(REPLACE \"/usr/bin/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" text \"\${text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/units/${unit}\" \"\${text}\")
    file(INSTALL \"${PROJECT_BINARY_DIR}/units/${unit}\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  ")
endforeach()

# --- Debian package ------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME shadowsocks-cpp)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "fast, hardened Shadowsocks (ss-local, ss-server, ss-tunnel, ss-redir, ss-manager)")
set(CPACK_PACKAGE_CONTACT "shadowsocks-cpp developers <shadowsocks-cpp@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://shadowsocks.org")
# Runtime libraries (libssl3, libspdlog, libqrencode4, ...) from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
# adduser for the group the units read the configs through.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# Same command names as shadowsocks-libev's, in the same /usr/bin. Not a Conflicts (it would
# remove libev and the plugin packages that depend on it) nor a Provides (we do not yet ship
# everything libev's dependants need): preinst diverts libev's five commands to ss-*.libev,
# postrm gives them back (packaging/preinst).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/packaging/preinst"
    "${PROJECT_SOURCE_DIR}/packaging/postinst" "${PROJECT_SOURCE_DIR}/packaging/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGE_DESCRIPTION
    "A Shadowsocks implementation in C++20, byte-compatible with shadowsocks-libev and\
 shadowsocks-rust and a drop-in for libev's flags and JSON keys, with systemd notify\
 units, live reload, SIP002 URLs and QR codes.")
include(CPack)
