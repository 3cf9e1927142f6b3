# Cross-building for 64-bit Windows with Debian's mingw-w64 (the POSIX thread model, which
# std::thread and std::mutex need): scripts/build-windows.sh configures with
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake -DSS_WINDOWS_DEPS=PREFIX -DSS_STATIC=ON
# where PREFIX holds the libraries it cross-built from Debian's sources (OpenSSL, c-ares, RE2,
# libqrencode) and links to the header-only ones (Boost, nlohmann/json, spdlog, fmt, CLI11):
# nothing of the build machine's own /usr/include or /usr/lib is seen. The tests run the .exe
# files under Wine (`wine64`, called directly).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)

set(SS_WINDOWS_DEPS "" CACHE PATH "Prefix of the libraries cross-built for Windows")
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32 ${SS_WINDOWS_DEPS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
if(SS_WINDOWS_DEPS)
  set(ENV{PKG_CONFIG_LIBDIR} "${SS_WINDOWS_DEPS}/lib/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
  set(OPENSSL_ROOT_DIR ${SS_WINDOWS_DEPS})
  set(Boost_INCLUDE_DIR ${SS_WINDOWS_DEPS}/include)
endif()

# Wine runs what the build itself needs to run (the man page generator) and the unit tests.
find_program(SS_WINE64 NAMES wine64 PATHS /usr/lib/wine NO_DEFAULT_PATH)
if(SS_WINE64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SS_WINE64})
endif()
