# make clang-check: reads a build tree's compile_commands.json and writes, one per line, each
# translation unit's command with `-fsyntax-only` in place of its object (`-o OBJ -c`): Clang's
# warnings come from its front end, so the code generation and links a full build adds would find
# nothing more and double the time.
#   cmake -DBUILD_DIR=build-clang -DOUTPUT=build-clang/syntax-only-commands.txt -P scripts/syntax-only-commands.cmake
file(READ ${BUILD_DIR}/compile_commands.json json)
string(JSON count LENGTH "${json}")
math(EXPR last "${count} - 1")
set(lines "")
foreach(i RANGE ${last})
  string(JSON command GET "${json}" ${i} command)
  string(REGEX REPLACE " -o [^ ]+ -c " " -fsyntax-only " checked "${command}")
  if(checked STREQUAL command)
    message(FATAL_ERROR "compile_commands.json entry ${i} has no ' -o OBJECT -c ': ${command}")
  endif()
  string(APPEND lines "${checked}\n")
endforeach()
file(WRITE ${OUTPUT} "${lines}")
