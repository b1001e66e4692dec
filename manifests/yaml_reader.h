// A two-mode reader for manifest objects.
//
// Decode mode walks a yaml-cpp node, fills typed structs, records each value's position and
// reports problems as Diagnostics. Schema mode runs the very same decode functions without a node
// and records a JSON Schema instead. Because the schema is produced by the code that decodes,
// the two cannot drift (tests/unit/manifests/schema_test.cc checks the committed copy).
//
// Not thread-safe; one DocContext per document being decoded.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "manifests/loader.h"
#include "manifests/types.h"

namespace sluice::manifests {

struct DocContext {
  bool schema_mode = false;
  std::string file;
  std::string kind;  // for diagnostics
  std::string name;
  DocumentOrigin* origin = nullptr;
  std::vector<Diagnostic>* diagnostics = nullptr;
  const LoadLimits* limits = nullptr;

  SourcePos pos_of(const YAML::Node& node) const;
  void record(const std::string& path, const YAML::Node& node);
  void error(const SourcePos& pos, const std::string& path, const std::string& message);
  void error(const YAML::Node& node, const std::string& path, const std::string& message) {
    error(pos_of(node), path, message);
  }
};

// Numeric bounds for ints, doubles and "...Seconds" durations (in seconds).
struct Bounds {
  std::optional<double> min;
  std::optional<double> max;
  bool exclusive_min = false;
};

// Typed leaf values. Each overload parses one YAML scalar (or flat collection).
// Returns false (after reporting) when the value is unusable; the target keeps its default.
bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, int& out,
                 const Bounds& bounds);
bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, double& out,
                 const Bounds& bounds);
bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, bool& out,
                 const Bounds& bounds);
bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, std::string& out,
                 const Bounds& bounds);
bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path,
                 IntOrPercent& out, const Bounds& bounds);
bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path,
                 std::vector<std::string>& out, const Bounds& bounds);
bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path,
                 std::map<std::string, std::string>& out, const Bounds& bounds);

nlohmann::json leaf_schema(const int*, const Bounds& b);
nlohmann::json leaf_schema(const double*, const Bounds& b);
nlohmann::json leaf_schema(const bool*, const Bounds& b);
nlohmann::json leaf_schema(const std::string*, const Bounds& b);
nlohmann::json leaf_schema(const IntOrPercent*, const Bounds& b);
nlohmann::json leaf_schema(const std::vector<std::string>*, const Bounds& b);
nlohmann::json leaf_schema(const std::map<std::string, std::string>*, const Bounds& b);

// Reads one YAML mapping. Every key the decode function asks for is "known"; finish() reports
// the others as unknown fields with the closest known name.
class ObjectReader {
 public:
  // node is ignored in schema mode; schema receives {"type":"object","properties":...}.
  ObjectReader(DocContext& ctx, const YAML::Node& node, std::string path, nlohmann::json* schema);
  ~ObjectReader();
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  bool schema_mode() const { return ctx_.schema_mode; }
  DocContext& ctx() { return ctx_; }
  const std::string& path() const { return path_; }
  std::string child_path(const char* key) const;
  bool has(const char* key) const;
  const YAML::Node* raw(const char* key);  // marks key known; nullptr when absent (or schema)

  // A leaf field; absent -> out unchanged (the default).
  template <typename T>
  void field(const char* key, T& out, Bounds bounds = {}, const char* description = nullptr) {
    if (schema_mode()) {
      add_property(key, leaf_schema(static_cast<const T*>(nullptr), bounds), description);
      return;
    }
    if (const YAML::Node* n = raw(key)) {
      ctx_.record(child_path(key), *n);
      decode_leaf(ctx_, *n, child_path(key), out, bounds);
    }
  }

  template <typename T>
  void field(const char* key, std::optional<T>& out, Bounds bounds = {},
             const char* description = nullptr) {
    if (schema_mode()) {
      add_property(key, leaf_schema(static_cast<const T*>(nullptr), bounds), description);
      return;
    }
    if (const YAML::Node* n = raw(key)) {
      ctx_.record(child_path(key), *n);
      T value{};
      if (decode_leaf(ctx_, *n, child_path(key), value, bounds)) out = std::move(value);
    }
  }

  // A duration: "500ms", "30s", "5m", "1h" or a bare number of seconds.
  void duration(const char* key, Duration& out, Bounds bounds = {},
                const char* description = nullptr);
  void duration(const char* key, std::optional<Duration>& out, Bounds bounds = {},
                const char* description = nullptr);
  // A "...Seconds" field: a number of seconds (fractions allowed when allow_fraction).
  void seconds(const char* key, Duration& out, Bounds bounds, bool allow_fraction,
               const char* description = nullptr);
  // A string restricted to a set of values.
  void enum_field(const char* key, std::string& out, std::initializer_list<const char*> values,
                  const char* description = nullptr);

  // A nested object decoded by fn; absent -> out unchanged.
  template <typename T>
  void object(const char* key, T& out, const std::function<void(ObjectReader&, T&)>& fn,
              const char* description = nullptr) {
    if (schema_mode()) {
      nlohmann::json sub;
      T dummy{};
      {
        ObjectReader r(ctx_, YAML::Node(), child_path(key), &sub);
        fn(r, dummy);
      }
      add_property(key, std::move(sub), description);
      return;
    }
    if (const YAML::Node* n = raw(key)) {
      ctx_.record(child_path(key), *n);
      if (!n->IsMap()) {
        ctx_.error(*n, child_path(key), "must be a mapping (an object)");
        return;
      }
      ObjectReader r(ctx_, *n, child_path(key), nullptr);
      fn(r, out);
    }
  }

  template <typename T>
  void object(const char* key, std::optional<T>& out,
              const std::function<void(ObjectReader&, T&)>& fn, const char* description = nullptr) {
    if (schema_mode()) {
      T dummy{};
      object<T>(key, dummy, fn, description);
      return;
    }
    if (has(key)) {
      T value{};
      object<T>(key, value, fn, description);
      out = std::move(value);
    } else {
      raw(key);  // still a known key, so a misspelling of it gets "did you mean"
    }
  }

  // A sequence of objects.
  template <typename T>
  void list(const char* key, std::vector<T>& out, const std::function<void(ObjectReader&, T&)>& fn,
            const char* description = nullptr) {
    if (schema_mode()) {
      nlohmann::json item;
      T dummy{};
      {
        ObjectReader r(ctx_, YAML::Node(), child_path(key) + "[]", &item);
        fn(r, dummy);
      }
      add_property(key, {{"type", "array"}, {"items", std::move(item)}}, description);
      return;
    }
    const YAML::Node* n = raw(key);
    if (!n) return;
    ctx_.record(child_path(key), *n);
    if (n->IsNull()) return;
    if (!n->IsSequence()) {
      ctx_.error(*n, child_path(key), "must be a list");
      return;
    }
    out.clear();
    size_t index = 0;
    for (const auto& item : *n) {
      const std::string item_path = child_path(key) + "[" + std::to_string(index++) + "]";
      ctx_.record(item_path, item);
      if (!item.IsMap()) {
        ctx_.error(item, item_path, "must be a mapping (an object)");
        continue;
      }
      T value{};
      {
        ObjectReader r(ctx_, item, item_path, nullptr);
        fn(r, value);
      }
      out.push_back(std::move(value));
    }
  }

  // Requires exactly one of keys to be present (strategy, provider, probe handler, step).
  // Returns the present key, or "" after reporting.
  std::string exactly_one(std::initializer_list<const char*> keys, bool allow_none = false);
  // Marks key required.
  void require(const char* key);
  // Allows any key (labels-like free maps are handled by decode_leaf instead).
  void error(const char* key, const std::string& message);
  void error_here(const std::string& message);

 private:
  void add_property(const char* key, nlohmann::json schema, const char* description);
  void report_unknown_keys();

  DocContext& ctx_;
  YAML::Node node_;
  std::string path_;
  nlohmann::json* schema_;
  std::set<std::string> known_;
  std::deque<YAML::Node> held_;  // nodes handed out by raw(); deque keeps addresses stable
  bool unknown_reported_ = false;
};

// Damerau-Levenshtein distance (optimal string alignment: an adjacent transposition counts 1),
// case-insensitive, for "did you mean".
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to name when it is close enough to be a likely misspelling (the allowed
// distance grows with the length of name: 1 up to 4 characters, then a third of it, at least 2);
// "" otherwise.
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace sluice::manifests
