// The informer's cache, index, handlers and freshness, fed by the test as a reflector would feed
// it (the reflector itself runs against the real kube-apiserver in
// tests/integration/kube_informer).
#include "kube/informer.h"

#include <catch2/catch.hpp>

#include "kube/resource_path.h"

using nlohmann::json;
using sluice::SimulatedClock;
using sluice::Status;
using sluice::StatusCode;
using sluice::kube::Informer;
using sluice::kube::InformerHandlers;
using sluice::kube::InformerSpec;
using sluice::kube::Object;
using sluice::kube::ObjectRef;
using sluice::kube::ResourceKind;

namespace {

json pod(const std::string& name, const std::string& rv, const std::string& hash) {
  return {{"metadata",
           {{"name", name},
            {"namespace", "shop"},
            {"resourceVersion", rv},
            {"labels", {{"rollouts-pod-template-hash", hash}}}}}};
}

json event(const std::string& type, const json& object) {
  return {{"type", type}, {"object", object}};
}

std::vector<std::string> names(const std::vector<Object>& objects) {
  std::vector<std::string> out;
  for (const Object& o : objects) out.push_back((*o)["metadata"]["name"].get<std::string>());
  return out;
}

InformerSpec pods_spec() {
  InformerSpec spec;
  spec.kind = ResourceKind::kPod;
  spec.namespace_name = "shop";
  spec.label_selector = "app=web";
  spec.index_labels = {"rollouts-pod-template-hash"};
  return spec;
}

}  // namespace

TEST_CASE("informer: not synced and not fresh until the first list is stored", "[informer]") {
  SimulatedClock clock;
  Informer informer(pods_spec(), clock);
  CHECK_FALSE(informer.has_synced());
  CHECK_FALSE(informer.is_fresh());
  informer.replace({pod("a", "10", "h1"), pod("b", "11", "h2")}, "12");
  CHECK(informer.has_synced());
  CHECK(informer.is_fresh());
  CHECK(informer.state().resource_version == "12");
  CHECK(informer.state().lists == 1);
  CHECK(names(informer.list()) == std::vector<std::string>{"a", "b"});
  REQUIRE(informer.get("shop", "a") != nullptr);
  CHECK(informer.get("shop", "c") == nullptr);
  CHECK(informer.get("other", "a") == nullptr);
}

TEST_CASE("informer: watch events update the cache, the index and the resourceVersion",
          "[informer]") {
  SimulatedClock clock;
  Informer informer(pods_spec(), clock);
  informer.replace({pod("a", "10", "h1"), pod("b", "11", "h1")}, "12");
  CHECK(names(informer.by_label("rollouts-pod-template-hash", "h1")) ==
        std::vector<std::string>{"a", "b"});

  REQUIRE(informer.apply_event(event("MODIFIED", pod("b", "13", "h2"))));
  REQUIRE(informer.apply_event(event("ADDED", pod("c", "14", "h2"))));
  REQUIRE(informer.apply_event(event("DELETED", pod("a", "15", "h1"))));
  CHECK(names(informer.by_label("rollouts-pod-template-hash", "h1")).empty());
  CHECK(names(informer.by_label("rollouts-pod-template-hash", "h2")) ==
        std::vector<std::string>{"b", "c"});
  CHECK(informer.state().resource_version == "15");
  CHECK(informer.state().events == 3);

  // A bookmark moves the resourceVersion only.
  REQUIRE(informer.apply_event(event("BOOKMARK", {{"metadata", {{"resourceVersion", "20"}}}})));
  CHECK(informer.state().resource_version == "20");
  CHECK(informer.state().bookmarks == 1);
  CHECK(informer.list().size() == 2);

  // A label that is not indexed is answered by a scan.
  REQUIRE(informer.apply_event(event(
      "ADDED", {{"metadata", {{"name", "d"}, {"namespace", "shop"}, {"labels", {{"x", "1"}}}}}})));
  CHECK(names(informer.by_label("x", "1")) == std::vector<std::string>{"d"});
}

TEST_CASE("informer: a bad event is refused and changes nothing", "[informer]") {
  SimulatedClock clock;
  Informer informer(pods_spec(), clock);
  informer.replace({pod("a", "10", "h1")}, "12");
  const Status unknown = informer.apply_event(event("RESYNC", pod("a", "13", "h1")));
  CHECK(unknown.code() == StatusCode::kInvalidArgument);
  CHECK(unknown.message() == "Pod watch event of unknown type 'RESYNC'");
  const Status no_name = informer.apply_event(event("ADDED", {{"metadata", json::object()}}));
  CHECK(no_name.message() == "Pod watch event ADDED names no object");
  CHECK(informer.apply_event({{"type", "ADDED"}}).message() ==
        "Pod watch event of type 'ADDED' has no object");
  CHECK(informer.state().resource_version == "12");
  CHECK((*informer.get("shop", "a"))["metadata"]["resourceVersion"] == "10");
}

TEST_CASE("informer: a relist reports adds, updates and deletes against the old cache",
          "[informer]") {
  SimulatedClock clock;
  Informer informer(pods_spec(), clock);
  std::vector<std::string> seen;
  informer.replace({pod("a", "10", "h1"), pod("b", "11", "h1"), pod("c", "12", "h1")}, "12");
  InformerHandlers handlers;
  handlers.on_add = [&](const Object& o) {
    seen.push_back("add " + (*o)["metadata"]["name"].get<std::string>());
  };
  handlers.on_update = [&](const Object& old_object, const Object& new_object) {
    seen.push_back("update " + (*old_object)["metadata"]["resourceVersion"].get<std::string>() +
                   "->" + (*new_object)["metadata"]["resourceVersion"].get<std::string>());
  };
  handlers.on_delete = [&](const Object& o) {
    seen.push_back("delete " + (*o)["metadata"]["name"].get<std::string>());
  };
  handlers.on_fresh = [&](bool fresh) { seen.push_back(fresh ? "fresh" : "stale"); };
  informer.add_handlers(handlers);
  // Added to a running informer: every cached object is replayed as an add.
  CHECK(seen == std::vector<std::string>{"add a", "add b", "add c"});
  seen.clear();

  informer.mark_stale(sluice::unavailable("watch: connection refused"), /*gone=*/false);
  CHECK_FALSE(informer.is_fresh());
  CHECK(informer.has_synced());
  CHECK(informer.state().last_error.message() == "watch: connection refused");
  CHECK(informer.state().watch_failures == 1);
  informer.mark_stale(sluice::failed_precondition("410 Gone"), /*gone=*/true);
  CHECK(informer.state().relists_after_gone == 1);

  // a unchanged, b changed, c gone, d new.
  informer.replace({pod("a", "10", "h1"), pod("b", "20", "h2"), pod("d", "21", "h2")}, "22");
  CHECK(seen == std::vector<std::string>{"stale", "delete c", "update 11->20", "add d", "fresh"});
  CHECK(informer.is_fresh());
  CHECK(informer.state().last_error.is_ok());
  CHECK(names(informer.by_label("rollouts-pod-template-hash", "h2")) ==
        std::vector<std::string>{"b", "d"});
  CHECK(names(informer.by_label("rollouts-pod-template-hash", "h1")) ==
        std::vector<std::string>{"a"});
}

TEST_CASE("kube paths: label selectors and names are percent-encoded", "[informer]") {
  using sluice::kube::internal::collection_path;
  using sluice::kube::internal::object_path;
  using sluice::kube::internal::query;
  CHECK(collection_path(ResourceKind::kReplicaSet, "shop") ==
        "/apis/apps/v1/namespaces/shop/replicasets");
  CHECK(object_path(ObjectRef{ResourceKind::kService, "shop", "web"}) ==
        "/api/v1/namespaces/shop/services/web");
  CHECK(query({{"labelSelector", "app=web,tier in (a,b)"}, {"continue", ""}, {"limit", "5"}}) ==
        "?labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29&limit=5");
  CHECK(ObjectRef{ResourceKind::kPod, "shop", "web-1"}.describe() == "Pod shop/web-1");
}
