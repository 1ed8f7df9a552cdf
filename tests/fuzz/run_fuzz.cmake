# CTest driver: builds the fuzz target with clang and fuzzes from a seed corpus (the tiny models
# plus whatever earlier runs found), for a bounded time. Any crash fails the test, and libFuzzer
# leaves the input as crash-* in WORK_DIR.
# -DSOURCE_DIR -DWORK_DIR -DSEEDS (list of files) -DSECONDS
find_program(CLANGXX NAMES clang++ clang++-14)
if(NOT CLANGXX)
  message(FATAL_ERROR "clang++ is needed to fuzz (scripts/install-deps.sh installs it)")
endif()
set(build ${WORK_DIR}/build)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/fuzz -B ${build} -G Ninja -DCMAKE_CXX_COMPILER=${CLANGXX}
  RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the fuzz build failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the fuzz target failed")
endif()
file(MAKE_DIRECTORY ${WORK_DIR}/corpus)
foreach(seed ${SEEDS})
  file(COPY ${seed} DESTINATION ${WORK_DIR}/corpus)
endforeach()
execute_process(COMMAND ${build}/gguf-fuzz -max_total_time=${SECONDS} -max_len=65536 -print_final_stats=1 ${WORK_DIR}/corpus
  WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the GGUF fuzzer found a crash (rc ${rc}); the input is in ${WORK_DIR}")
endif()
