# Runs one simulation shard (ctest -> cmake -P): the many-seeds case over seeds FIRST..FIRST+SEEDS-1.
# Passes only when the test binary succeeds AND reports that it ran exactly SEEDS seeds from FIRST,
# so a renamed test case (Catch2 `-w NoTests` makes "no test matched" an error) or a renamed
# environment variable (the binary would run its default range) fails the shard instead of
# passing with the wrong seeds, or none.
#   cmake -DSIM=<sim_controller_tests> -DFIRST=<n> -DSEEDS=<n> -P run_shard.cmake
foreach(var SIM FIRST SEEDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_shard.cmake: -D${var}= is required")
  endif()
endforeach()
set(ENV{SLUICE_SIM_FIRST_SEED} ${FIRST})
set(ENV{SLUICE_SIM_SEEDS} ${SEEDS})
unset(ENV{SLUICE_SIM_SEED})
execute_process(
  COMMAND ${SIM} "controller simulation over many seeds" -w NoTests
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out ECHO_OUTPUT_VARIABLE
  ERROR_VARIABLE err ECHO_ERROR_VARIABLE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "simulation shard ${FIRST}+${SEEDS}: exit status ${rc}")
endif()
# Printed by the test case once every seed of its range has run (controller_sim_test.cc).
if(NOT "${out}${err}" MATCHES "sim: ran ${SEEDS} of ${SEEDS} seeds from ${FIRST}, 0 failed")
  message(FATAL_ERROR
    "simulation shard ${FIRST}+${SEEDS}: the binary did not report running ${SEEDS} seeds from ${FIRST}")
endif()
