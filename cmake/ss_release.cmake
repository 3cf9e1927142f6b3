# Release flags, chosen by measurement (docs/performance.md, "Size"): -O2 rather than -O3
# (the same throughput: the per-byte work is OpenSSL's), every function and object in a
# section of its own, and the linker drops the sections nothing reaches. Together they take
# the stripped executable from 3.66 MB to 2.88 MB.
foreach(type RELEASE MINSIZEREL RELWITHDEBINFO)
  string(REPLACE "-O3" "-O2" CMAKE_CXX_FLAGS_${type} "${CMAKE_CXX_FLAGS_${type}}")
endforeach()
if(NOT SS_FUZZ)
  add_compile_options(-ffunction-sections -fdata-sections)
  add_link_options(-Wl,--gc-sections)
endif()

# Debian's hardening (dpkg-buildflags): glibc's checked string and memory functions where the
# optimizer knows the sizes, and every relocation done before main, with the tables read-only
# from then on (full RELRO). Not under the sanitizers, which bring their own checks; not on
# Windows, where the C library is Microsoft's and the executable has no ELF tables.
if(NOT SS_FUZZ AND NOT SS_SANITIZE AND NOT WIN32)
  add_compile_definitions($<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
  add_link_options(-Wl,-z,relro,-z,now)
endif()

# The executable's functions in the order of a recorded run (cmake/link-order.txt, written by
# scripts/link-order.py): what the daemons run at start, then what relaying adds. The kernel
# maps code in windows of up to 64 KiB around each page touched, so a daemon's resident memory
# at start is the number of windows its code is spread over: 5.6 -> 3.1 MiB for the static
# ss-server (docs/performance.md, "Memory at start"). GNU ld 2.40 has no such option; lld has
# (Debian's lld), found through a directory of our own so that a cross compiler finds it too.
# Without lld the executable is linked in the archives' order, and works the same.
option(SS_LINK_ORDER "Link shadowsocks-cpp with lld in the order of cmake/link-order.txt" ON)
function(ss_link_order target)
  if(NOT SS_LINK_ORDER OR SS_FUZZ OR SS_SANITIZE OR WIN32)  # the order is measured on Linux
    return()
  endif()
  find_program(SS_LLD ld.lld)
  if(NOT SS_LLD)
    message(STATUS "ld.lld not found: ${target} is linked in the archives' order "
                   "(more resident memory at start; Debian's package: lld)")
    return()
  endif()
  set(dir ${PROJECT_BINARY_DIR}/lld)
  file(MAKE_DIRECTORY ${dir})
  file(CREATE_LINK ${SS_LLD} ${dir}/ld.lld SYMBOLIC)
  set(order ${PROJECT_SOURCE_DIR}/cmake/link-order.txt)
  target_link_options(${target} PRIVATE -B${dir} -fuse-ld=lld -Wl,--build-id=sha1
                      -Wl,--symbol-ordering-file=${order} -Wl,--no-warn-symbol-ordering)
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${order})
  set_property(GLOBAL PROPERTY ss_linked_in_order ON)  # tests/CMakeLists.txt holds it to 5 MiB
endfunction()
