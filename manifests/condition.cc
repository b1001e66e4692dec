// The condition language: a tokenizer, a recursive-descent parser that follows the grammar in
// condition.h exactly, and a tree-walking evaluator.
//
// Identifiers are resolved at parse time (only `result` and lambda parameters in scope), so an
// unknown name is a lint error with its column, not a runtime surprise. Types are checked at
// evaluation time because whether `result` is a vector is only known then.
#include "manifests/condition.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <utility>

namespace sluice::manifests {

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxTextBytes = 4096;

enum class Tok {
  kNumber,
  kIdent,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kArrow,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kAnd,
  kOr,
  kNot,
  kEnd,
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  double number = 0;
  int column = 1;  // 1-based
};

std::string at(int column, const std::string& message) {
  return "column " + std::to_string(column) + ": " + message;
}

Result<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  auto is_ident_start = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
  };
  auto is_ident_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  while (i < s.size()) {
    const char c = s[i];
    const int col = static_cast<int>(i) + 1;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    Token t;
    t.column = col;
    auto two = [&](char second) { return i + 1 < s.size() && s[i + 1] == second; };
    const bool minus_number =
        c == '-' && i + 1 < s.size() &&
        (std::isdigit(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '.');
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.' || minus_number) {
      // A number lexeme: -?digits[.digits][e[+-]digits]. A leading '-' belongs to the literal
      // (there is no unary minus operator).
      size_t j = i;
      if (s[j] == '-') ++j;
      size_t digits = 0;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j, ++digits;
      if (j < s.size() && s[j] == '.') {
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j, ++digits;
      }
      if (digits == 0) return invalid_argument(at(col, "malformed number"));
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        size_t exp_digits = 0;
        while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) ++k, ++exp_digits;
        if (exp_digits == 0) return invalid_argument(at(col, "malformed number exponent"));
        j = k;
      }
      if (j < s.size() && is_ident_char(s[j])) {
        return invalid_argument(at(static_cast<int>(j) + 1, "unexpected character after number"));
      }
      t.kind = Tok::kNumber;
      t.text = std::string(s.substr(i, j - i));
      t.number = std::strtod(t.text.c_str(), nullptr);
      i = j;
    } else if (is_ident_start(c)) {
      size_t j = i;
      while (j < s.size() && is_ident_char(s[j])) ++j;
      t.kind = Tok::kIdent;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '(') {
      t.kind = Tok::kLParen;
      ++i;
    } else if (c == ')') {
      t.kind = Tok::kRParen;
      ++i;
    } else if (c == '[') {
      t.kind = Tok::kLBracket;
      ++i;
    } else if (c == ']') {
      t.kind = Tok::kRBracket;
      ++i;
    } else if (c == ',') {
      t.kind = Tok::kComma;
      ++i;
    } else if (c == '=' && two('>')) {
      t.kind = Tok::kArrow;
      i += 2;
    } else if (c == '=' && two('=')) {
      t.kind = Tok::kEq;
      i += 2;
    } else if (c == '!' && two('=')) {
      t.kind = Tok::kNe;
      i += 2;
    } else if (c == '<' && two('=')) {
      t.kind = Tok::kLe;
      i += 2;
    } else if (c == '>' && two('=')) {
      t.kind = Tok::kGe;
      i += 2;
    } else if (c == '&' && two('&')) {
      t.kind = Tok::kAnd;
      i += 2;
    } else if (c == '|' && two('|')) {
      t.kind = Tok::kOr;
      i += 2;
    } else if (c == '<') {
      t.kind = Tok::kLt;
      ++i;
    } else if (c == '>') {
      t.kind = Tok::kGt;
      ++i;
    } else if (c == '!') {
      t.kind = Tok::kNot;
      ++i;
    } else {
      std::string shown = std::isprint(static_cast<unsigned char>(c))
                              ? std::string("'") + c + "'"
                              : "byte " + std::to_string(static_cast<unsigned char>(c));
      return invalid_argument(at(col, "unexpected character " + shown));
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.kind = Tok::kEnd;
  end.column = static_cast<int>(s.size()) + 1;
  out.push_back(end);
  return out;
}

}  // namespace

enum class NodeKind {
  kNumber,
  kBool,
  kResult,
  kResultIndex,
  kParam,
  kLen,
  kIsNaN,
  kAll,
  kAny,
  kNot,
  kAnd,
  kOr,
  kCmp,
};

struct ConditionNode {
  NodeKind kind = NodeKind::kNumber;
  int column = 1;
  double number = 0;                   // kNumber
  bool boolean = false;                // kBool
  size_t index = 0;                    // kResultIndex
  int param_slot = 0;                  // kParam: depth of the binding lambda (0 = outermost)
  Tok op = Tok::kEnd;                  // kCmp
  std::unique_ptr<ConditionNode> lhs;  // operand / collection
  std::unique_ptr<ConditionNode> rhs;  // second operand / lambda body (may be null)
};

namespace {

using NodePtr = std::unique_ptr<ConditionNode>;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Result<NodePtr> parse_all() {
    auto e = parse_or(0);
    if (!e) return e;
    if (peek().kind != Tok::kEnd) return error(peek(), "unexpected " + describe(peek()));
    return e;
  }

 private:
  const Token& peek() const { return toks_[pos_]; }
  const Token& next() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd:
        return "end of condition";
      case Tok::kNumber:
        return "number " + t.text;
      case Tok::kIdent:
        return "'" + t.text + "'";
      case Tok::kLParen:
        return "'('";
      case Tok::kRParen:
        return "')'";
      case Tok::kLBracket:
        return "'['";
      case Tok::kRBracket:
        return "']'";
      case Tok::kComma:
        return "','";
      case Tok::kArrow:
        return "'=>'";
      case Tok::kLt:
        return "'<'";
      case Tok::kLe:
        return "'<='";
      case Tok::kGt:
        return "'>'";
      case Tok::kGe:
        return "'>='";
      case Tok::kEq:
        return "'=='";
      case Tok::kNe:
        return "'!='";
      case Tok::kAnd:
        return "'&&'";
      case Tok::kOr:
        return "'||'";
      case Tok::kNot:
        return "'!'";
    }
    return "token";
  }

  static Status error(const Token& t, const std::string& message) {
    return invalid_argument(at(t.column, message));
  }

  Status expect(Tok kind, const char* what) {
    if (peek().kind != kind) {
      return error(peek(), std::string("expected ") + what + ", got " + describe(peek()));
    }
    next();
    return Status::ok();
  }

  static NodePtr make(NodeKind kind, int column) {
    auto n = std::make_unique<ConditionNode>();
    n->kind = kind;
    n->column = column;
    return n;
  }

  Status check_depth(int depth) const {
    if (depth > kMaxDepth) {
      return error(peek(), "condition nested too deeply (max " + std::to_string(kMaxDepth) + ")");
    }
    return Status::ok();
  }

  Result<NodePtr> parse_or(int depth) {
    if (auto s = check_depth(depth); !s) return s;
    auto lhs = parse_and(depth + 1);
    if (!lhs) return lhs;
    NodePtr left = std::move(lhs).value();
    // Each chained operand deepens the (left-leaning) tree, so it counts against the depth.
    while (peek().kind == Tok::kOr) {
      if (auto s = check_depth(++depth); !s) return s;
      const int col = next().column;
      auto rhs = parse_and(depth + 1);
      if (!rhs) return rhs;
      auto n = make(NodeKind::kOr, col);
      n->lhs = std::move(left);
      n->rhs = std::move(rhs).value();
      left = std::move(n);
    }
    return left;
  }

  Result<NodePtr> parse_and(int depth) {
    if (auto s = check_depth(depth); !s) return s;
    auto lhs = parse_not(depth + 1);
    if (!lhs) return lhs;
    NodePtr left = std::move(lhs).value();
    // Each chained operand deepens the (left-leaning) tree, so it counts against the depth.
    while (peek().kind == Tok::kAnd) {
      if (auto s = check_depth(++depth); !s) return s;
      const int col = next().column;
      auto rhs = parse_not(depth + 1);
      if (!rhs) return rhs;
      auto n = make(NodeKind::kAnd, col);
      n->lhs = std::move(left);
      n->rhs = std::move(rhs).value();
      left = std::move(n);
    }
    return left;
  }

  Result<NodePtr> parse_not(int depth) {
    if (auto s = check_depth(depth); !s) return s;
    if (peek().kind == Tok::kNot) {
      const int col = next().column;
      auto operand = parse_not(depth + 1);
      if (!operand) return operand;
      auto n = make(NodeKind::kNot, col);
      n->lhs = std::move(operand).value();
      return n;
    }
    return parse_cmp(depth + 1);
  }

  static bool is_cmp(Tok k) {
    return k == Tok::kLt || k == Tok::kLe || k == Tok::kGt || k == Tok::kGe || k == Tok::kEq ||
           k == Tok::kNe;
  }

  Result<NodePtr> parse_cmp(int depth) {
    if (auto s = check_depth(depth); !s) return s;
    auto lhs = parse_primary(depth + 1);
    if (!lhs) return lhs;
    if (!is_cmp(peek().kind)) return lhs;
    const Token op = next();
    auto rhs = parse_primary(depth + 1);
    if (!rhs) return rhs;
    if (is_cmp(peek().kind)) {
      return error(peek(), "comparisons cannot be chained; use && between them");
    }
    auto n = make(NodeKind::kCmp, op.column);
    n->op = op.kind;
    n->lhs = std::move(lhs).value();
    n->rhs = std::move(rhs).value();
    return n;
  }

  Result<NodePtr> parse_call_arg(int depth) {
    if (auto s = expect(Tok::kLParen, "'('"); !s) return s;
    auto arg = parse_or(depth + 1);
    if (!arg) return arg;
    return arg;
  }

  Result<NodePtr> parse_primary(int depth) {
    if (auto s = check_depth(depth); !s) return s;
    const Token t = peek();
    switch (t.kind) {
      case Tok::kNumber: {
        next();
        auto n = make(NodeKind::kNumber, t.column);
        n->number = t.number;
        return n;
      }
      case Tok::kLParen: {
        next();
        auto e = parse_or(depth + 1);
        if (!e) return e;
        if (auto s = expect(Tok::kRParen, "')'"); !s) return s;
        return e;
      }
      case Tok::kIdent:
        return parse_ident(t, depth);
      default:
        return error(t, "expected a value, got " + describe(t));
    }
  }

  Result<NodePtr> parse_ident(const Token& t, int depth) {
    next();
    if (t.text == "true" || t.text == "false") {
      auto n = make(NodeKind::kBool, t.column);
      n->boolean = t.text == "true";
      return n;
    }
    if (t.text == "result") {
      if (peek().kind != Tok::kLBracket) return make(NodeKind::kResult, t.column);
      next();
      const Token idx = peek();
      if (idx.kind != Tok::kNumber || idx.number < 0 || idx.number != std::floor(idx.number) ||
          idx.number > 1e9) {
        return error(idx, "expected a non-negative integer index, got " + describe(idx));
      }
      next();
      if (auto s = expect(Tok::kRBracket, "']'"); !s) return s;
      auto n = make(NodeKind::kResultIndex, t.column);
      n->index = static_cast<size_t>(idx.number);
      return n;
    }
    if (t.text == "len" || t.text == "isNaN") {
      auto arg = parse_call_arg(depth);
      if (!arg) return arg;
      if (auto s = expect(Tok::kRParen, "')'"); !s) return s;
      auto n = make(t.text == "len" ? NodeKind::kLen : NodeKind::kIsNaN, t.column);
      n->lhs = std::move(arg).value();
      return n;
    }
    if (t.text == "all" || t.text == "any") {
      auto arg = parse_call_arg(depth);
      if (!arg) return arg;
      auto n = make(t.text == "all" ? NodeKind::kAll : NodeKind::kAny, t.column);
      n->lhs = std::move(arg).value();
      if (peek().kind == Tok::kComma) {
        next();
        const Token param = peek();
        if (param.kind != Tok::kIdent || is_reserved(param.text)) {
          return error(param, "expected a lambda parameter name, got " + describe(param));
        }
        next();
        if (auto s = expect(Tok::kArrow, "'=>'"); !s) return s;
        params_.push_back(param.text);
        auto body = parse_or(depth + 1);
        params_.pop_back();
        if (!body) return body;
        n->rhs = std::move(body).value();
      }
      if (auto s = expect(Tok::kRParen, "')'"); !s) return s;
      return n;
    }
    // A lambda parameter in scope; the innermost binding wins.
    for (size_t i = params_.size(); i-- > 0;) {
      if (params_[i] == t.text) {
        auto n = make(NodeKind::kParam, t.column);
        n->param_slot = static_cast<int>(i);
        return n;
      }
    }
    return error(t, "unknown identifier '" + t.text +
                        "' (use result, len(), isNaN(), all(), any(), true, false)");
  }

  static bool is_reserved(const std::string& s) {
    return s == "result" || s == "true" || s == "false" || s == "len" || s == "isNaN" ||
           s == "all" || s == "any";
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::vector<std::string> params_;
};

// ---- Evaluation ----

enum class VKind { kNumber, kBool, kVector, kBoolVector };

struct Value {
  VKind kind = VKind::kNumber;
  double number = 0;
  bool boolean = false;
  std::vector<double> numbers;  // kVector
  std::vector<bool> booleans;   // kBoolVector (an elementwise comparison, only inside all/any)
};

const char* kind_name(VKind k) {
  switch (k) {
    case VKind::kNumber:
      return "a number";
    case VKind::kBool:
      return "a boolean";
    case VKind::kVector:
      return "a vector";
    case VKind::kBoolVector:
      return "an elementwise comparison";
  }
  return "a value";
}

class Evaluator {
 public:
  Evaluator(const std::vector<double>& result, bool is_vector)
      : result_(result), is_vector_(is_vector) {}

  Result<Value> eval(const ConditionNode& n) {
    switch (n.kind) {
      case NodeKind::kNumber:
        return num(n.number);
      case NodeKind::kBool:
        return boolean(n.boolean);
      case NodeKind::kResult:
        if (is_vector_) {
          Value v;
          v.kind = VKind::kVector;
          v.numbers = result_;
          return v;
        }
        if (result_.empty()) return fail(n, "result has no value");
        return num(result_[0]);
      case NodeKind::kResultIndex:
        // A scalar result is treated as a vector of one, so result[0] works for both shapes.
        if (n.index >= result_.size()) {
          return fail(n, "index " + std::to_string(n.index) + " out of range (result has " +
                             std::to_string(result_.size()) + " element(s))");
        }
        return num(result_[n.index]);
      case NodeKind::kParam:
        return num(params_[static_cast<size_t>(n.param_slot)]);
      case NodeKind::kLen: {
        auto v = eval(*n.lhs);
        if (!v) return v;
        if (v->kind == VKind::kVector) return num(static_cast<double>(v->numbers.size()));
        if (v->kind == VKind::kNumber) return num(1);
        return fail(n, std::string("len() needs a vector, got ") + kind_name(v->kind));
      }
      case NodeKind::kIsNaN: {
        auto v = eval(*n.lhs);
        if (!v) return v;
        if (v->kind != VKind::kNumber) {
          return fail(n, std::string("isNaN() needs a number, got ") + kind_name(v->kind));
        }
        return boolean(std::isnan(v->number));
      }
      case NodeKind::kAll:
      case NodeKind::kAny:
        return eval_quantifier(n);
      case NodeKind::kNot: {
        auto v = eval_bool(*n.lhs, "!");
        if (!v) return v.status();
        return boolean(!*v);
      }
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        auto l = eval_bool(*n.lhs, n.kind == NodeKind::kAnd ? "&&" : "||");
        if (!l) return l.status();
        // Short-circuit, so `len(result) > 0 && result[0] < 1` is safe on an empty vector.
        if (n.kind == NodeKind::kAnd && !*l) return boolean(false);
        if (n.kind == NodeKind::kOr && *l) return boolean(true);
        auto r = eval_bool(*n.rhs, n.kind == NodeKind::kAnd ? "&&" : "||");
        if (!r) return r.status();
        return boolean(*r);
      }
      case NodeKind::kCmp:
        return eval_cmp(n);
    }
    return fail(n, "unknown expression");
  }

  Result<bool> eval_bool(const ConditionNode& n, const std::string& where) {
    auto v = eval(n);
    if (!v) return v.status();
    if (v->kind == VKind::kBool) return v->boolean;
    if (v->kind == VKind::kBoolVector) {
      return invalid_argument(at(n.column, "a vector comparison must be inside all() or any()"));
    }
    return invalid_argument(at(n.column, where + " needs a boolean, got " + kind_name(v->kind)));
  }

 private:
  static Value num(double d) {
    Value v;
    v.kind = VKind::kNumber;
    v.number = d;
    return v;
  }
  static Value boolean(bool b) {
    Value v;
    v.kind = VKind::kBool;
    v.boolean = b;
    return v;
  }
  static Status fail(const ConditionNode& n, const std::string& m) {
    return invalid_argument(at(n.column, m));
  }

  static bool compare(Tok op, double a, double b) {
    switch (op) {
      case Tok::kLt:
        return a < b;
      case Tok::kLe:
        return a <= b;
      case Tok::kGt:
        return a > b;
      case Tok::kGe:
        return a >= b;
      case Tok::kEq:
        return a == b;
      case Tok::kNe:
        return a != b;
      default:
        return false;
    }
  }

  Result<Value> eval_cmp(const ConditionNode& n) {
    auto l = eval(*n.lhs);
    if (!l) return l;
    auto r = eval(*n.rhs);
    if (!r) return r;
    const VKind lk = l->kind, rk = r->kind;
    if (lk == VKind::kNumber && rk == VKind::kNumber) {
      return boolean(compare(n.op, l->number, r->number));
    }
    if (lk == VKind::kBool && rk == VKind::kBool && (n.op == Tok::kEq || n.op == Tok::kNe)) {
      return boolean((l->boolean == r->boolean) == (n.op == Tok::kEq));
    }
    // Elementwise: vector op number, or number op vector.
    if ((lk == VKind::kVector && rk == VKind::kNumber) ||
        (lk == VKind::kNumber && rk == VKind::kVector)) {
      const bool vec_left = lk == VKind::kVector;
      const std::vector<double>& vec = vec_left ? l->numbers : r->numbers;
      const double scalar = vec_left ? r->number : l->number;
      Value out;
      out.kind = VKind::kBoolVector;
      out.booleans.reserve(vec.size());
      for (double x : vec) {
        out.booleans.push_back(vec_left ? compare(n.op, x, scalar) : compare(n.op, scalar, x));
      }
      return out;
    }
    return fail(n, std::string("cannot compare ") + kind_name(lk) + " with " + kind_name(rk));
  }

  Result<Value> eval_quantifier(const ConditionNode& n) {
    const bool want_all = n.kind == NodeKind::kAll;
    const char* name = want_all ? "all()" : "any()";
    auto coll = eval(*n.lhs);
    if (!coll) return coll;
    std::vector<bool> truths;
    if (n.rhs) {
      std::vector<double> items;
      if (coll->kind == VKind::kVector) {
        items = std::move(coll->numbers);
      } else if (coll->kind == VKind::kNumber) {
        items.push_back(coll->number);
      } else {
        return fail(
            n, std::string(name) + " with a lambda needs a vector, got " + kind_name(coll->kind));
      }
      for (double x : items) {
        params_.push_back(x);
        auto b = eval_bool(*n.rhs, std::string(name) + " lambda");
        params_.pop_back();
        if (!b) return b.status();
        truths.push_back(*b);
        // Short-circuit like the reference languages do.
        if (want_all && !*b) break;
        if (!want_all && *b) break;
      }
    } else if (coll->kind == VKind::kBoolVector) {
      truths = std::move(coll->booleans);
    } else if (coll->kind == VKind::kBool) {
      truths.push_back(coll->boolean);
    } else {
      return fail(
          n, std::string(name) + " needs a comparison or a lambda, got " + kind_name(coll->kind));
    }
    bool acc = want_all;
    for (bool b : truths) acc = want_all ? (acc && b) : (acc || b);
    return boolean(acc);
  }

  const std::vector<double>& result_;
  bool is_vector_;
  std::vector<double> params_;  // lambda bindings, innermost last (param_slot indexes them)
};

}  // namespace

Condition::Condition() = default;
Condition::~Condition() = default;
Condition::Condition(Condition&&) noexcept = default;
Condition& Condition::operator=(Condition&&) noexcept = default;

Result<Condition> Condition::parse(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    return invalid_argument(
        at(static_cast<int>(kMaxTextBytes) + 1,
           "condition longer than " + std::to_string(kMaxTextBytes) + " characters"));
  }
  auto tokens = tokenize(text);
  if (!tokens) return tokens.status();
  if (tokens->size() == 1) return invalid_argument(at(1, "empty condition"));
  Parser parser(std::move(tokens).value());
  auto root = parser.parse_all();
  if (!root) return root.status();
  Condition c;
  c.text_ = std::string(text);
  c.root_ = std::move(root).value();
  return c;
}

Result<bool> Condition::evaluate(const std::vector<double>& result, bool result_is_vector) const {
  if (!root_) return invalid_argument("empty condition");
  Evaluator ev(result, result_is_vector);
  return ev.eval_bool(*root_, "a condition");
}

}  // namespace sluice::manifests
