// $(VAR) expansion in commands and env values, with Kubernetes semantics: $(NAME) is replaced by
// the variable's value when NAME is defined; an undefined reference is left as written;
// $$ is an escaped $ ("$$(X)" becomes the literal "$(X)"). No shell is involved, ever.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace sluice::runtime {

std::string expand_vars(std::string_view text, const std::map<std::string, std::string>& vars);

}  // namespace sluice::runtime
