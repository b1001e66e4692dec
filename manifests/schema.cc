#include "manifests/schema.h"

#include "manifests/decode.h"

namespace sluice::manifests {

namespace {

template <typename T>
nlohmann::json kind_schema(const char* kind, void (*decode)(ObjectReader&, T&)) {
  DocContext ctx;
  ctx.schema_mode = true;
  nlohmann::json schema;
  T dummy{};
  {
    ObjectReader r(ctx, YAML::Node(), "", &schema);
    decode(r, dummy);
  }
  schema["properties"]["apiVersion"] = {{"const", kApiVersion}};
  schema["properties"]["kind"] = {{"const", kind}};
  return schema;
}

}  // namespace

nlohmann::json generate_schema() {
  nlohmann::json schema;
  schema["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  schema["$id"] = "https://sluice.dev/schema/v1alpha1/sluice.schema.json";
  schema["title"] = "Sluice manifests (sluice.dev/v1alpha1)";
  schema["$defs"]["Rollout"] = kind_schema<Rollout>("Rollout", decode_rollout);
  schema["$defs"]["AnalysisTemplate"] =
      kind_schema<AnalysisTemplate>("AnalysisTemplate", decode_analysis_template);
  schema["oneOf"] = {{{"$ref", "#/$defs/Rollout"}}, {{"$ref", "#/$defs/AnalysisTemplate"}}};
  return schema;
}

}  // namespace sluice::manifests
