# One static library per layer, linked bottom-up: codec <- crypto <- config <- runtime <-
# service <- local and server (siblings) <- ops <- app. Each layer's public headers are include/shadowsocks/<layer>/, and a target
# sees only its own folder and those of the layers it links: every layer gets an include root
# of its own in the build tree holding one link, shadowsocks/<layer> -> the source folder. So
# `#include "shadowsocks/service/..."` in the runtime layer is a build error (no such file),
# not a review comment.
#
#   ss_layer(<layer> SOURCES ... [DEPS <targets linked PUBLIC>] [PRIVATE_DEPS ...])
function(ss_layer layer)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target ss_${layer})
  add_library(${target} STATIC ${arg_SOURCES})
  set(root ${PROJECT_BINARY_DIR}/layers/${layer})
  file(MAKE_DIRECTORY ${root}/shadowsocks)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/shadowsocks/${layer}
       ${root}/shadowsocks/${layer} SYMBOLIC)
  target_include_directories(${target} PUBLIC ${root})
  target_link_libraries(${target} PUBLIC ${arg_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
  ss_target_warnings(${target})
endfunction()
