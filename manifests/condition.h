// The analysis condition language (successCondition / failureCondition).
//
// Grammar (nothing else is accepted):
//   expr     := or
//   or       := and ( "||" and )*
//   and      := not ( "&&" not )*
//   not      := "!" not | cmp
//   cmp      := primary ( ("<"|"<="|">"|">="|"=="|"!=") primary )?
//   primary  := number | "true" | "false" | "result" ( "[" number "]" )? | "(" expr ")"
//             | "len(" expr ")" | "isNaN(" expr ")"
//             | ("all"|"any") "(" expr ("," lambda)? ")"    lambda := ident "=>" expr
//             | ident  (a lambda parameter)
// `result` is a number or a vector of numbers. A comparison of a vector with a number inside
// all()/any() without a lambda applies elementwise. Evaluation is bounded by the parsed size:
// no loops beyond the vector length, no recursion beyond the parse depth (max 64).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sluice::manifests {

struct ConditionNode;

class Condition {
 public:
  Condition();
  ~Condition();
  Condition(Condition&&) noexcept;
  Condition& operator=(Condition&&) noexcept;
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // Parses text. The error message names the column (1-based) of the problem.
  static Result<Condition> parse(std::string_view text);

  // Evaluates against a measurement value (one number, or a vector). Errors (index out of range,
  // type mismatch) are returned, never thrown.
  Result<bool> evaluate(const std::vector<double>& result, bool result_is_vector) const;
  Result<bool> evaluate(double result) const { return evaluate({result}, false); }

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::unique_ptr<ConditionNode> root_;
};

}  // namespace sluice::manifests
