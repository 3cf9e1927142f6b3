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
# from then on (full RELRO). Not under the sanitizers, which bring their own checks.
if(NOT SS_FUZZ AND NOT SS_SANITIZE)
  add_compile_definitions($<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
  add_link_options(-Wl,-z,relro,-z,now)
endif()
