# Cross-building for 64-bit ARM Linux with Debian's cross compiler and its :arm64 library
# packages (scripts/install-deps.sh arm64 installs both): cmake -DCMAKE_TOOLCHAIN_FILE=
# cmake/aarch64-linux-gnu.cmake -DSS_STATIC=ON ... The tests run under qemu-aarch64-static,
# called directly (no binfmt_misc needed).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Debian's multiarch layout: the :arm64 libraries and their CMake and pkg-config files are in
# /usr/lib/aarch64-linux-gnu, the headers in /usr/include, shared with the build machine's.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
find_program(SS_QEMU_AARCH64 qemu-aarch64-static)
if(SS_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SS_QEMU_AARCH64})
endif()
