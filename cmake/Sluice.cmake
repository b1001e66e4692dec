# sluice_module(NAME <folder> [DEPS targets...])
# One static library per top-level folder, built from every *.cc below it (excluding *_main.cc).
# Includes are rooted at the repository: #include "manifests/rollout.h".
function(sluice_module)
  cmake_parse_arguments(M "" "NAME" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_main\\.cc$")
  set(target sluice_${M_NAME})
  if(srcs)
    add_library(${target} STATIC ${srcs})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_compile_options(${target} PRIVATE ${SLUICE_WARNINGS})
    target_link_libraries(${target} PUBLIC ${M_DEPS})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${M_DEPS})
  endif()
endfunction()

# sluice_test(NAME <name> LABEL <unit|integration|e2e|sim> SOURCES ... DEPS ...)
# A Catch2 v2 executable registered with CTest through catch_discover_tests.
function(sluice_test)
  cmake_parse_arguments(T "" "NAME;LABEL" "SOURCES;DEPS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_compile_options(${T_NAME} PRIVATE ${SLUICE_WARNINGS})
  target_link_libraries(${T_NAME} PRIVATE sluice_catch_main ${T_DEPS})
  # One precompiled <catch2/catch.hpp> for every test (tests/CMakeLists.txt: sluice_test_pch).
  # No per-test -D paths: tests ask tests/support/paths at run time, so compile lines are the
  # same in every clone and ccache hits across them.
  target_precompile_headers(${T_NAME} REUSE_FROM sluice_test_pch)
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # -w NoTests: a test whose name ctest cannot pass through (e.g. one with a ";") fails instead
  # of "passing" with nothing run.
  catch_discover_tests(${T_NAME} TEST_PREFIX "${T_LABEL}:" EXTRA_ARGS -w NoTests
                       PROPERTIES LABELS ${T_LABEL})
endfunction()
