#include "manifests/yaml_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "base/duration.h"

namespace sluice::manifests {

namespace {

// yaml-cpp marks an unquoted scalar with tag "?" and a quoted one with "!".
bool is_plain(const YAML::Node& node) { return node.Tag() == "?" || node.Tag().empty(); }

std::string show(const YAML::Node& node) {
  if (node.IsScalar()) {
    std::string s = node.Scalar();
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return is_plain(node) ? s : "\"" + s + "\"";
  }
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "null";
}

std::string describe_bounds(const Bounds& b) {
  if (b.min && b.max) return fmt::format("between {} and {}", *b.min, *b.max);
  if (b.min) return fmt::format("{} {}", b.exclusive_min ? "greater than" : "at least", *b.min);
  if (b.max) return fmt::format("at most {}", *b.max);
  return "";
}

bool check_bounds(DocContext& ctx, const YAML::Node& node, const std::string& path, double v,
                  const Bounds& b) {
  const bool low = b.min && (b.exclusive_min ? v <= *b.min : v < *b.min);
  const bool high = b.max && v > *b.max;
  if (low || high) {
    ctx.error(node, path, fmt::format("must be {} (got {})", describe_bounds(b), show(node)));
    return false;
  }
  return true;
}

void apply_bounds(nlohmann::json& s, const Bounds& b) {
  if (b.min) s[b.exclusive_min ? "exclusiveMinimum" : "minimum"] = *b.min;
  if (b.max) s["maximum"] = *b.max;
}

bool parse_number(const YAML::Node& node, double& out) {
  if (!node.IsScalar() || !is_plain(node)) return false;
  const std::string& s = node.Scalar();
  if (s.empty() || s.size() > 40) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end != nullptr && *end == '\0' && std::isfinite(out);
}

}  // namespace

SourcePos DocContext::pos_of(const YAML::Node& node) const {
  SourcePos p;
  p.file = file;
  if (node.IsDefined()) {
    const YAML::Mark m = node.Mark();
    if (m.line >= 0) {
      p.line = m.line + 1;
      p.column = m.column + 1;
    }
  }
  return p;
}

void DocContext::record(const std::string& path, const YAML::Node& node) {
  if (origin != nullptr && node.IsDefined()) origin->positions.emplace(path, pos_of(node));
}

void DocContext::error(const SourcePos& pos, const std::string& path, const std::string& message) {
  if (schema_mode || diagnostics == nullptr) return;
  Diagnostic d;
  d.pos = pos;
  if (d.pos.file.empty()) d.pos.file = file;
  d.kind = kind;
  d.name = name;
  d.field = path;
  d.message = message;
  diagnostics->push_back(std::move(d));
}

bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, int& out,
                 const Bounds& bounds) {
  double v = 0;
  if (!parse_number(node, v) || std::floor(v) != v || std::fabs(v) > 1e9) {
    ctx.error(node, path, fmt::format("must be an integer (got {})", show(node)));
    return false;
  }
  if (!check_bounds(ctx, node, path, v, bounds)) return false;
  out = static_cast<int>(v);
  return true;
}

bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, double& out,
                 const Bounds& bounds) {
  double v = 0;
  if (!parse_number(node, v)) {
    ctx.error(node, path, fmt::format("must be a number (got {})", show(node)));
    return false;
  }
  if (!check_bounds(ctx, node, path, v, bounds)) return false;
  out = v;
  return true;
}

bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, bool& out,
                 const Bounds&) {
  if (node.IsScalar() && is_plain(node)) {
    const std::string& s = node.Scalar();
    if (s == "true") {
      out = true;
      return true;
    }
    if (s == "false") {
      out = false;
      return true;
    }
  }
  ctx.error(node, path, fmt::format("must be true or false (got {})", show(node)));
  return false;
}

bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path, std::string& out,
                 const Bounds&) {
  if (!node.IsScalar()) {
    ctx.error(node, path, fmt::format("must be a string (got {})", show(node)));
    return false;
  }
  out = node.Scalar();
  return true;
}

bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path,
                 IntOrPercent& out, const Bounds&) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (!s.empty() && s.back() == '%') {
      const std::string digits = s.substr(0, s.size() - 1);
      if (!digits.empty() && digits.size() <= 3 &&
          std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const int v = std::atoi(digits.c_str());
        if (v > 100) {
          ctx.error(node, path, fmt::format("must be at most 100% (got {})", s));
          return false;
        }
        out = IntOrPercent{v, true};
        return true;
      }
    } else {
      double v = 0;
      if (parse_number(node, v) && std::floor(v) == v && v >= 0 && v <= 1e6) {
        out = IntOrPercent{static_cast<int>(v), false};
        return true;
      }
    }
  }
  ctx.error(
      node, path,
      fmt::format("must be a non-negative integer or a percentage like 25% (got {})", show(node)));
  return false;
}

bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path,
                 std::vector<std::string>& out, const Bounds&) {
  if (!node.IsSequence()) {
    ctx.error(node, path, fmt::format("must be a list of strings (got {})", show(node)));
    return false;
  }
  std::vector<std::string> values;
  size_t i = 0;
  for (const auto& item : node) {
    const std::string item_path = fmt::format("{}[{}]", path, i++);
    ctx.record(item_path, item);
    if (!item.IsScalar()) {
      ctx.error(item, item_path, fmt::format("must be a string (got {})", show(item)));
      return false;
    }
    values.push_back(item.Scalar());
  }
  out = std::move(values);
  return true;
}

bool decode_leaf(DocContext& ctx, const YAML::Node& node, const std::string& path,
                 std::map<std::string, std::string>& out, const Bounds&) {
  if (node.IsNull()) return true;
  if (!node.IsMap()) {
    ctx.error(node, path, fmt::format("must be a mapping of strings (got {})", show(node)));
    return false;
  }
  std::map<std::string, std::string> values;
  for (const auto& kv : node) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    const std::string item_path = path + "." + key;
    if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
      ctx.error(kv.second, item_path, "must be a string");
      return false;
    }
    if (!values.emplace(key, kv.second.Scalar()).second) {
      ctx.error(kv.first, item_path, "duplicate key");
      return false;
    }
  }
  out = std::move(values);
  return true;
}

nlohmann::json leaf_schema(const int*, const Bounds& b) {
  nlohmann::json s = {{"type", "integer"}};
  apply_bounds(s, b);
  return s;
}
nlohmann::json leaf_schema(const double*, const Bounds& b) {
  nlohmann::json s = {{"type", "number"}};
  apply_bounds(s, b);
  return s;
}
nlohmann::json leaf_schema(const bool*, const Bounds&) { return {{"type", "boolean"}}; }
nlohmann::json leaf_schema(const std::string*, const Bounds&) { return {{"type", "string"}}; }
nlohmann::json leaf_schema(const IntOrPercent*, const Bounds&) {
  return {{"oneOf",
           {{{"type", "integer"}, {"minimum", 0}},
            {{"type", "string"}, {"pattern", "^(100|[0-9]{1,2})%$"}}}}};
}
nlohmann::json leaf_schema(const std::vector<std::string>*, const Bounds&) {
  return {{"type", "array"}, {"items", {{"type", "string"}}}};
}
nlohmann::json leaf_schema(const std::map<std::string, std::string>*, const Bounds&) {
  return {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
}

ObjectReader::ObjectReader(DocContext& ctx, const YAML::Node& node, std::string path,
                           nlohmann::json* schema)
    : ctx_(ctx), node_(node), path_(std::move(path)), schema_(schema) {
  if (schema_ != nullptr) {
    (*schema_)["type"] = "object";
    (*schema_)["additionalProperties"] = false;
    (*schema_)["properties"] = nlohmann::json::object();
  }
  if (!ctx_.schema_mode && node_.IsMap()) {
    // yaml-cpp keeps duplicate keys; YAML forbids them. Report each repeat once.
    std::set<std::string> seen;
    for (const auto& kv : node_) {
      if (!kv.first.IsScalar()) {
        ctx_.error(kv.first, path_, "keys must be strings");
        continue;
      }
      if (!seen.insert(kv.first.Scalar()).second) {
        ctx_.error(kv.first, child_path(kv.first.Scalar().c_str()),
                   "duplicate key (each key may appear once)");
      }
    }
  }
}

ObjectReader::~ObjectReader() { report_unknown_keys(); }

std::string ObjectReader::child_path(const char* key) const {
  return path_.empty() ? std::string(key) : path_ + "." + key;
}

bool ObjectReader::has(const char* key) const {
  if (ctx_.schema_mode || !node_.IsMap()) return false;
  for (const auto& kv : node_) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return true;
  }
  return false;
}

const YAML::Node* ObjectReader::raw(const char* key) {
  known_.insert(key);
  if (ctx_.schema_mode || !node_.IsMap()) return nullptr;
  for (const auto& kv : node_) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      // yaml-cpp iterator values are proxies; keep a stable copy alive in this reader.
      held_.push_back(kv.second);
      return &held_.back();
    }
  }
  return nullptr;
}

void ObjectReader::duration(const char* key, Duration& out, Bounds bounds,
                            const char* description) {
  if (schema_mode()) {
    nlohmann::json num = {{"type", "number"}, {"minimum", bounds.min.value_or(0)}};
    add_property(key,
                 {{"oneOf",
                   {{{"type", "string"},
                     {"pattern", "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$|^[0-9]+(\\.[0-9]+)?$"}},
                    num}}},
                 description);
    return;
  }
  const YAML::Node* n = raw(key);
  if (!n) return;
  const std::string path = child_path(key);
  ctx_.record(path, *n);
  if (!n->IsScalar()) {
    ctx_.error(*n, path, fmt::format("must be a duration like 30s (got {})", show(*n)));
    return;
  }
  auto d = parse_duration(n->Scalar());
  if (!d.is_ok()) {
    ctx_.error(*n, path, d.status().message());
    return;
  }
  const double secs = static_cast<double>(d->count()) / 1000.0;
  if (!check_bounds(ctx_, *n, path, secs, bounds)) return;
  out = *d;
}

void ObjectReader::duration(const char* key, std::optional<Duration>& out, Bounds bounds,
                            const char* description) {
  if (schema_mode() || !has(key)) {
    Duration dummy{0};
    duration(key, dummy, bounds, description);
    return;
  }
  Duration value{-1};
  duration(key, value, bounds, description);
  if (value.count() >= 0) out = value;
}

void ObjectReader::seconds(const char* key, Duration& out, Bounds bounds, bool allow_fraction,
                           const char* description) {
  if (schema_mode()) {
    nlohmann::json s = {{"type", allow_fraction ? "number" : "integer"}};
    apply_bounds(s, bounds);
    add_property(key, std::move(s), description);
    return;
  }
  const YAML::Node* n = raw(key);
  if (!n) return;
  const std::string path = child_path(key);
  ctx_.record(path, *n);
  double v = 0;
  if (!parse_number(*n, v) || (!allow_fraction && std::floor(v) != v)) {
    ctx_.error(*n, path,
               fmt::format("must be {} of seconds (got {})",
                           allow_fraction ? "a number" : "a whole number", show(*n)));
    return;
  }
  if (!check_bounds(ctx_, *n, path, v, bounds)) return;
  if (v > 366.0 * 24 * 3600) {
    ctx_.error(*n, path, "must be at most a year");
    return;
  }
  out = Duration(static_cast<int64_t>(std::llround(v * 1000.0)));
}

void ObjectReader::enum_field(const char* key, std::string& out,
                              std::initializer_list<const char*> values, const char* description) {
  if (schema_mode()) {
    nlohmann::json e = nlohmann::json::array();
    for (const char* v : values) e.push_back(v);
    add_property(key, {{"type", "string"}, {"enum", e}}, description);
    return;
  }
  const YAML::Node* n = raw(key);
  if (!n) return;
  const std::string path = child_path(key);
  ctx_.record(path, *n);
  std::string value;
  if (!decode_leaf(ctx_, *n, path, value, {})) return;
  std::string allowed;
  for (const char* v : values) {
    if (value == v) {
      out = value;
      return;
    }
    allowed += allowed.empty() ? v : std::string(", ") + v;
  }
  std::string message = fmt::format("must be one of {} (got {})", allowed, show(*n));
  if (const std::string best = closest_name(value, {values.begin(), values.end()}); !best.empty()) {
    message += fmt::format("; did you mean \"{}\"?", best);
  }
  ctx_.error(*n, path, message);
}

std::string ObjectReader::exactly_one(std::initializer_list<const char*> keys, bool allow_none) {
  std::string names;
  for (const char* k : keys) names += names.empty() ? k : std::string(", ") + k;
  if (schema_mode()) {
    nlohmann::json alts = nlohmann::json::array();
    for (const char* k : keys) alts.push_back({{"required", {k}}});
    if (allow_none) {
      nlohmann::json none = nlohmann::json::array();
      for (const char* k : keys) none.push_back({{"required", {k}}});
      alts.push_back({{"not", {{"anyOf", none}}}});
    }
    (*schema_)["oneOf"] = alts;
    return "";
  }
  std::vector<std::string> present;
  for (const char* k : keys) {
    known_.insert(k);
    if (has(k)) present.push_back(k);
  }
  if (present.size() == 1) return present.front();
  if (present.empty()) {
    if (!allow_none) error_here(fmt::format("must set exactly one of {} (got none)", names));
    return "";
  }
  error_here(
      fmt::format("must set exactly one of {} (got {} and {})", names, present[0], present[1]));
  return "";
}

void ObjectReader::require(const char* key) {
  if (schema_mode()) {
    (*schema_)["required"].push_back(key);
    return;
  }
  if (!has(key)) error_here(fmt::format("missing required field \"{}\"", key));
}

void ObjectReader::error(const char* key, const std::string& message) {
  const YAML::Node* n = raw(key);
  ctx_.error(n ? ctx_.pos_of(*n) : ctx_.pos_of(node_), child_path(key), message);
}

void ObjectReader::error_here(const std::string& message) {
  ctx_.error(ctx_.pos_of(node_), path_, message);
}

void ObjectReader::add_property(const char* key, nlohmann::json schema, const char* description) {
  known_.insert(key);
  if (schema_ == nullptr) return;
  if (description != nullptr) schema["description"] = description;
  (*schema_)["properties"][key] = std::move(schema);
}

void ObjectReader::report_unknown_keys() {
  if (ctx_.schema_mode || unknown_reported_ || !node_.IsMap()) return;
  unknown_reported_ = true;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) continue;
    const std::string& key = kv.first.Scalar();
    if (known_.count(key)) continue;
    const std::string best = closest_name(key, {known_.begin(), known_.end()});
    std::string message = fmt::format("unknown field \"{}\"", key);
    if (!best.empty()) message += fmt::format("; did you mean \"{}\"?", best);
    ctx_.error(kv.first, child_path(key.c_str()), message);
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  if (a.size() > 64 || b.size() > 64) return std::max(a.size(), b.size());
  auto same = [](char x, char y) { return std::tolower(x) == std::tolower(y); };
  // Three rows: the transposition looks two rows back.
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = same(a[i - 1], b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1])) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_name(const std::string& name, const std::vector<std::string>& candidates) {
  const size_t allowed = name.size() <= 4 ? 1 : std::max<size_t>(2, name.size() / 3);
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& candidate : candidates) {
    if (candidate == name) continue;
    const size_t d = edit_distance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best_distance <= allowed ? best : std::string();
}

}  // namespace sluice::manifests
