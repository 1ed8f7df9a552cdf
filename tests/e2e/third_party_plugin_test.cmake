# Installs the SDK into a scratch prefix, builds examples/third_party_plugin as its own CMake
# project against it (find_package(corral-sdk)), then checks the host lists and runs the result.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --component sdk)
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/third_party_plugin" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")

file(GLOB built "${WORK_DIR}/build/*.so")
if(NOT built)
  message(FATAL_ERROR "the example built no .so")
endif()
file(MAKE_DIRECTORY "${WORK_DIR}/plugins")
file(COPY ${built} DESTINATION "${WORK_DIR}/plugins")

# `corral plugins --json` lists mock, cpu and the example.
run("${CORRAL}" plugins --json --plugin-dir "${PLUGIN_DIR}" --plugin-dir "${WORK_DIR}/plugins")
foreach(name mock cpu external_endpoint)
  string(FIND "${last_output}" "\"name\": \"${name}\"" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "corral plugins --json does not list ${name}:\n${last_output}")
  endif()
endforeach()
string(FIND "${last_output}" "\"refused\": []" none_refused)
if(none_refused EQUAL -1)
  message(FATAL_ERROR "some plugin was refused:\n${last_output}")
endif()

# The example's options are validated by its schema, and its servers run through the host.
file(WRITE "${WORK_DIR}/bad.json" [[{"plugin_dirs": ["plugins"], "runners": {"ext": {"plugin": "external_endpoint", "url": 5}}}]])
execute_process(COMMAND "${CORRAL}" config check "${WORK_DIR}/bad.json" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 2 OR NOT out MATCHES "runners.ext.url: expected string, got integer")
  message(FATAL_ERROR "config check of the example's options: rc=${rc}\n${out}")
endif()
run("${CORRAL}" plugins inspect "${WORK_DIR}/plugins/external_endpoint.so")
message(STATUS "third-party example: built against the installed SDK and loaded by the host")
