# Warnings on our own code only; third-party headers come in as SYSTEM includes. They are
# errors only with SS_WERROR (scripts/test.sh and CI turn it on): a user's or a packager's
# build with another compiler must not fail on a warning that compiler adds.
option(SS_WERROR "Treat compiler warnings as errors" OFF)

function(ss_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(SS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports Asio's coroutine frame operator delete as mismatched with the frame's
    # operator new (GCC bug 104828, fixed in GCC 13); it is a false positive.
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
endfunction()
