# A test that fails with its reason: used where a test cannot be built here (a missing tool at
# configure time), so the suite reports it instead of running without it.
#   cmake -DREASON="..." -P fail_test.cmake
message(FATAL_ERROR "this test cannot run: ${REASON}")
