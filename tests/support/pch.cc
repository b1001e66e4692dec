// Carries the precompiled <catch2/catch.hpp> that every test target reuses (tests/CMakeLists.txt).
