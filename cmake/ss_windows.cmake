# The Windows zip (scripts/build-windows.sh), instead of the Linux installation:
#   dist/shadowsocks-cpp-VERSION-win64.zip
#     shadowsocks-cpp-VERSION-win64/ss-local.exe ss-tunnel.exe ss-server.exe   (the one
#                                    executable under each name, stripped)
#     shadowsocks-cpp-VERSION-win64/config/local.json tunnel.json server.json  (the examples)
#     shadowsocks-cpp-VERSION-win64/README.txt LICENSE.txt
set(SS_WINDOWS_PROGRAMS ss-local ss-tunnel ss-server)
set(ss_zip_name shadowsocks-cpp-${PROJECT_VERSION}-win64)
set(ss_zip_stage ${PROJECT_BINARY_DIR}/zip/${ss_zip_name})
set(ss_zip ${PROJECT_SOURCE_DIR}/dist/${ss_zip_name}.zip)
set(SS_VERSION ${PROJECT_VERSION})
configure_file(${PROJECT_SOURCE_DIR}/packaging/windows/README.txt
               ${PROJECT_BINARY_DIR}/zip/README.txt @ONLY)

set(ss_zip_commands
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${ss_zip_stage}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${ss_zip_stage}/config ${PROJECT_SOURCE_DIR}/dist)
foreach(program ${SS_WINDOWS_PROGRAMS})
  list(APPEND ss_zip_commands
       COMMAND ${CMAKE_STRIP} -o ${ss_zip_stage}/${program}.exe $<TARGET_FILE:shadowsocks-cpp>)
endforeach()
foreach(example local tunnel server)
  list(APPEND ss_zip_commands COMMAND ${CMAKE_COMMAND} -E copy
       ${PROJECT_SOURCE_DIR}/config/${example}.json ${ss_zip_stage}/config/)
endforeach()
add_custom_target(ss_windows_zip
  ${ss_zip_commands}
  COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_BINARY_DIR}/zip/README.txt ${ss_zip_stage}/
  COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/LICENSE ${ss_zip_stage}/LICENSE.txt
  COMMAND ${CMAKE_COMMAND} -E rm -f ${ss_zip}
  COMMAND ${CMAKE_COMMAND} -E tar cf ${ss_zip} --format=zip ${ss_zip_name}
  COMMAND ${CMAKE_COMMAND} -E echo "packed ${ss_zip}"
  WORKING_DIRECTORY ${PROJECT_BINARY_DIR}/zip
  DEPENDS shadowsocks-cpp VERBATIM)
