// SlotCounter: the connection and stream caps shared by the front doors and the API server.
#include <catch2/catch.hpp>

#include "base/connection_slots.h"

using namespace sluice;

TEST_CASE("slot counter: total and per-key limits, released with the slot", "[base][slots]") {
  auto counter = SlotCounter::make(3, 2);
  auto a1 = counter->take("a");
  auto a2 = counter->take("a");
  REQUIRE(a1.slot);
  REQUIRE(a2.slot);
  auto a3 = counter->take("a");
  CHECK_FALSE(a3.slot);
  CHECK(a3.refusal == SlotCounter::Refusal::kPerKey);
  auto b1 = counter->take("b");
  REQUIRE(b1.slot);
  auto c1 = counter->take("c");
  CHECK_FALSE(c1.slot);
  CHECK(c1.refusal == SlotCounter::Refusal::kTotal);
  CHECK(counter->held() == 3);
  a1.slot.reset();
  CHECK(counter->held() == 2);
  CHECK(counter->held_by("a") == 1);
  CHECK(counter->take("c").slot);  // taken and released at once
  CHECK(counter->held() == 2);
}

TEST_CASE("slot counter: move_to re-counts under another key within its limit",
          "[base][slots]") {
  auto counter = SlotCounter::make(0, 1);  // no total limit
  auto addr = counter->take("addr:127.0.0.1");
  auto other = counter->take("token:alice");
  REQUIRE(addr.slot);
  REQUIRE(other.slot);
  CHECK_FALSE(addr.slot->move_to("token:alice"));  // alice is full
  CHECK(addr.slot->key() == "addr:127.0.0.1");
  CHECK(addr.slot->move_to("token:bob"));
  CHECK(counter->held_by("addr:127.0.0.1") == 0);
  CHECK(counter->held_by("token:bob") == 1);
  CHECK(counter->held() == 2);
  addr.slot.reset();
  CHECK(counter->held_by("token:bob") == 0);
}

TEST_CASE("slot counter: a slot outliving its counter releases nothing", "[base][slots]") {
  auto counter = SlotCounter::make(1, 1);
  auto taken = counter->take("a");
  REQUIRE(taken.slot);
  counter.reset();
  CHECK(taken.slot->move_to("b"));
  taken.slot.reset();  // no crash, no use after free (ASan)
}
