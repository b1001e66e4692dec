#include "kube/informer.h"

#include "kube/resource_path.h"

namespace sluice::kube {
namespace {

std::string string_at(const nlohmann::json& object, const char* section, const char* key) {
  const auto s = object.find(section);
  if (s == object.end() || !s->is_object()) return "";
  const auto v = s->find(key);
  return v != s->end() && v->is_string() ? v->get<std::string>() : std::string();
}

// The value of label `key`, or nullptr when the object lacks it.
const nlohmann::json* label_of(const nlohmann::json& object, const std::string& key) {
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return nullptr;
  const auto labels = metadata->find("labels");
  if (labels == metadata->end() || !labels->is_object()) return nullptr;
  const auto value = labels->find(key);
  return value != labels->end() && value->is_string() ? &*value : nullptr;
}

}  // namespace

const char* kind_name(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kReplicaSet:
      return "ReplicaSet";
    case ResourceKind::kPod:
      return "Pod";
    case ResourceKind::kService:
      return "Service";
  }
  return "object";
}

std::string ObjectRef::describe() const {
  return std::string(kind_name(kind)) + " " + namespace_name + "/" + name;
}

Informer::Informer(InformerSpec spec, const Clock& clock) : spec_(std::move(spec)), clock_(clock) {}

std::string Informer::key_of(const std::string& namespace_name, const std::string& name) {
  return namespace_name + "/" + name;
}

Object Informer::get(const std::string& namespace_name, const std::string& name) const {
  std::shared_lock lock(mu_);
  const auto it = objects_.find(key_of(namespace_name, name));
  return it == objects_.end() ? nullptr : it->second.object;
}

std::vector<Object> Informer::list() const {
  std::shared_lock lock(mu_);
  std::vector<Object> out;
  out.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) out.push_back(entry.object);
  return out;
}

std::vector<Object> Informer::by_label(const std::string& key, const std::string& value) const {
  std::shared_lock lock(mu_);
  std::vector<Object> out;
  if (const auto index = index_.find(key); index != index_.end()) {
    const auto keys = index->second.find(value);
    if (keys == index->second.end()) return out;
    for (const std::string& k : keys->second) out.push_back(objects_.at(k).object);
    return out;
  }
  for (const auto& [k, entry] : objects_) {
    const nlohmann::json* label = label_of(*entry.object, key);
    if (label != nullptr && label->get<std::string>() == value) out.push_back(entry.object);
  }
  return out;
}

InformerState Informer::state() const {
  std::shared_lock lock(mu_);
  return state_;
}

void Informer::add_handlers(InformerHandlers handlers) {
  // Held across the replay so that no event is dispatched between it and the append: the new
  // handler sees each object once, as an add or through a later event.
  std::lock_guard handlers_lock(handlers_mu_);
  if (handlers.on_add) {
    for (const Object& object : list()) handlers.on_add(object);
  }
  handlers_.push_back(std::move(handlers));
}

void Informer::index_locked(const std::string& key, const Object& object) {
  Entry& entry = objects_[key];
  entry.object = object;
  entry.indexed.clear();
  for (const std::string& label_key : spec_.index_labels) {
    const nlohmann::json* value = label_of(*object, label_key);
    if (value == nullptr) continue;
    const std::string v = value->get<std::string>();
    entry.indexed[label_key] = v;
    index_[label_key][v].insert(key);
  }
}

void Informer::unindex_locked(const std::string& key) {
  const auto it = objects_.find(key);
  if (it == objects_.end()) return;
  for (const auto& [label_key, value] : it->second.indexed) {
    auto& values = index_[label_key];
    auto keys = values.find(value);
    if (keys == values.end()) continue;
    keys->second.erase(key);
    if (keys->second.empty()) values.erase(keys);
  }
  it->second.indexed.clear();
}

void Informer::set_fresh(bool fresh) {
  if (fresh_.exchange(fresh) == fresh) return;
  std::lock_guard handlers_lock(handlers_mu_);
  for (const InformerHandlers& h : handlers_) {
    if (h.on_fresh) h.on_fresh(fresh);
  }
}

void Informer::replace(const std::vector<nlohmann::json>& objects,
                       const std::string& resource_version) {
  struct Change {
    Object old_object;
    Object new_object;
  };
  std::vector<Change> changes;
  {
    std::unique_lock lock(mu_);
    std::map<std::string, Object> next;
    for (const nlohmann::json& object : objects) {
      const std::string name = string_at(object, "metadata", "name");
      if (name.empty()) continue;
      next[key_of(string_at(object, "metadata", "namespace"), name)] =
          std::make_shared<const nlohmann::json>(object);
    }
    for (auto it = objects_.begin(); it != objects_.end();) {
      if (next.count(it->first) != 0) {
        ++it;
        continue;
      }
      changes.push_back({it->second.object, nullptr});
      unindex_locked(it->first);
      it = objects_.erase(it);
    }
    for (auto& [key, object] : next) {
      const auto it = objects_.find(key);
      Object old_object = it == objects_.end() ? nullptr : it->second.object;
      // An unchanged resourceVersion is the same object: keep the old pointer, report nothing.
      if (old_object != nullptr && string_at(*old_object, "metadata", "resourceVersion") ==
                                       string_at(*object, "metadata", "resourceVersion")) {
        continue;
      }
      unindex_locked(key);
      index_locked(key, object);
      changes.push_back({old_object, object});
    }
    state_.synced = true;
    state_.fresh = true;
    state_.resource_version = resource_version;
    state_.last_list = clock_.now();
    state_.last_error = Status::ok();
    ++state_.lists;
  }
  synced_ = true;
  {
    std::lock_guard handlers_lock(handlers_mu_);
    for (const Change& c : changes) {
      for (const InformerHandlers& h : handlers_) {
        if (c.new_object == nullptr) {
          if (h.on_delete) h.on_delete(c.old_object);
        } else if (c.old_object == nullptr) {
          if (h.on_add) h.on_add(c.new_object);
        } else if (h.on_update) {
          h.on_update(c.old_object, c.new_object);
        }
      }
    }
  }
  set_fresh(true);
}

Status Informer::apply_event(const nlohmann::json& event) {
  const std::string type = internal::string_member(event, "type");
  const auto object_it = event.is_object() ? event.find("object") : event.end();
  if (object_it == event.end() || !object_it->is_object()) {
    return invalid_argument(std::string(kind_name(spec_.kind)) + " watch event of type '" + type +
                            "' has no object");
  }
  const nlohmann::json& object = *object_it;
  const std::string rv = string_at(object, "metadata", "resourceVersion");
  if (type == "BOOKMARK") {
    std::unique_lock lock(mu_);
    if (!rv.empty()) state_.resource_version = rv;
    state_.last_event = clock_.now();
    ++state_.bookmarks;
    return Status::ok();
  }
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
    return invalid_argument(std::string(kind_name(spec_.kind)) + " watch event of unknown type '" +
                            type + "'");
  }
  const std::string name = string_at(object, "metadata", "name");
  if (name.empty()) {
    return invalid_argument(std::string(kind_name(spec_.kind)) + " watch event " + type +
                            " names no object");
  }
  const std::string key = key_of(string_at(object, "metadata", "namespace"), name);
  Object old_object;
  Object new_object;
  {
    std::unique_lock lock(mu_);
    const auto it = objects_.find(key);
    if (it != objects_.end()) old_object = it->second.object;
    if (type == "DELETED") {
      unindex_locked(key);
      objects_.erase(key);
      // A delete of an object the cache never held (deleted right after its add) still ends
      // with the object's last state.
      if (old_object == nullptr) old_object = std::make_shared<const nlohmann::json>(object);
    } else {
      new_object = std::make_shared<const nlohmann::json>(object);
      unindex_locked(key);
      index_locked(key, new_object);
    }
    if (!rv.empty()) state_.resource_version = rv;
    state_.last_event = clock_.now();
    ++state_.events;
  }
  std::lock_guard handlers_lock(handlers_mu_);
  for (const InformerHandlers& h : handlers_) {
    if (new_object == nullptr) {
      if (h.on_delete) h.on_delete(old_object);
    } else if (old_object == nullptr) {
      if (h.on_add) h.on_add(new_object);
    } else if (h.on_update) {
      h.on_update(old_object, new_object);
    }
  }
  return Status::ok();
}

void Informer::mark_stale(const Status& why, bool gone) {
  {
    std::unique_lock lock(mu_);
    state_.fresh = false;
    state_.last_error = why;
    if (gone) {
      ++state_.relists_after_gone;
    } else {
      ++state_.watch_failures;
    }
  }
  set_fresh(false);
}

}  // namespace sluice::kube
