// $(VAR) expansion in commands and env values, with Kubernetes semantics: $(NAME) is replaced by
// the variable's value when NAME is defined; an undefined reference is left as written;
// $$ is an escaped $ ("$$(X)" becomes the literal "$(X)"). No shell is involved, ever.
//
// The runtime expands with the instance's whole environment at spawn time; validation expands
// with the manifest's own env to check what is known before anything runs.
//
// Every expansion is bounded by size. Each env entry may reference the ones before it, so
// `E1: "$(E0)$(E0)"`, `E2: "$(E1)$(E1)"`, ... doubles per line: 40 lines of a 1.9 KB manifest
// asked for terabytes. Expansion stops at the bound instead of allocating past it, and the caller
// turns `too_large` into an error naming the field.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace sluice::manifests {

// The most one expanded value (an env value or a command argument) may hold: Linux's
// MAX_ARG_STRLEN (32 pages of 4 KiB), beyond which execve refuses the string anyway.
inline constexpr size_t kMaxExpandedValueBytes = 128 * 1024;
// The most an instance's expanded environment and command may hold together: half of the usual
// ARG_MAX (a quarter of an 8 MiB stack), so what passes here also passes execve.
inline constexpr size_t kMaxExpandedTotalBytes = 1024 * 1024;

struct Expansion {
  std::string value;        // the result; when too_large, only its first max_bytes
  bool unresolved = false;  // a $(NAME) was left as written (NAME not in vars); "$$(X)" is not one
  bool too_large = false;   // the result would have exceeded max_bytes
};

Expansion expand(std::string_view text, const std::map<std::string, std::string>& vars,
                 size_t max_bytes = kMaxExpandedValueBytes);

}  // namespace sluice::manifests
