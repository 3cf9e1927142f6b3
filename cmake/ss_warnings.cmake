# Warnings are errors on our own code only; third-party headers come in as SYSTEM includes.
function(ss_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports Asio's coroutine frame operator delete as mismatched with the frame's
    # operator new (GCC bug 104828, fixed in GCC 13); it is a false positive.
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
endfunction()
