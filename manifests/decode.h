// Decoders for the two document kinds. Internal to manifests/ (loader.cc, schema.cc).
#pragma once

#include "manifests/types.h"
#include "manifests/yaml_reader.h"

namespace sluice::manifests {

void decode_rollout(ObjectReader& reader, Rollout& rollout);
void decode_analysis_template(ObjectReader& reader, AnalysisTemplate& templ);

// Semantic checks within one document (validate.cc). Diagnostics go through ctx.
void validate_rollout(DocContext& ctx, const Rollout& rollout);
void validate_analysis_template(DocContext& ctx, const AnalysisTemplate& templ);
// Cross-document checks over a whole set (unique names, template references, args).
void validate_set(ManifestSet& set);

}  // namespace sluice::manifests
