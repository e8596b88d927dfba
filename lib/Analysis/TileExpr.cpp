//===- TileExpr.cpp - closed-form integer expressions of tile indices -----===//
//
// Construction with constant folding and light simplification (so printed
// closed forms stay readable), evaluation and printing.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/TileExpr.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir::attn;

struct TileExpr::Node {
  Kind kind;
  int64_t value = 0; // Const: the value; Sym: the operand index
  TileSymbol symbol = TileSymbol::QueryBegin;
  llvm::SmallVector<TileExpr, 4> operands;
};

TileExpr::TileExpr(std::shared_ptr<const Node> node) : node(std::move(node)) {}

TileExpr::TileExpr(int64_t value) {
  auto n = std::make_shared<Node>();
  n->kind = Kind::Const;
  n->value = value;
  node = std::move(n);
}

TileExpr TileExpr::symbol(TileSymbol symbol, int64_t operand) {
  auto n = std::make_shared<Node>();
  n->kind = Kind::Sym;
  n->symbol = symbol;
  n->value = operand;
  return TileExpr(std::move(n));
}

TileExpr::Kind TileExpr::getKind() const { return node->kind; }

std::optional<int64_t> TileExpr::getConstant() const {
  if (node->kind == Kind::Const)
    return node->value;
  return std::nullopt;
}

TileSymbol TileExpr::getSymbol() const { return node->symbol; }
int64_t TileExpr::getOperandIndex() const { return node->value; }
llvm::ArrayRef<TileExpr> TileExpr::getOperands() const {
  return node->operands;
}

/// Whether two expressions are the same tree (used to simplify min(x, x)).
/// Shared subexpressions make trees DAGs: the comparison gives up (answers
/// false, which only costs a missed simplification) after `budget` nodes.
static bool sameTree(const TileExpr &a, const TileExpr &b, int &budget);

static bool sameTree(const TileExpr &a, const TileExpr &b) {
  int budget = 64;
  return sameTree(a, b, budget);
}

static bool sameTree(const TileExpr &a, const TileExpr &b, int &budget) {
  if (a.isSameNode(b))
    return true;
  if (--budget < 0 || a.getKind() != b.getKind())
    return false;
  switch (a.getKind()) {
  case TileExpr::Kind::Const:
    return a.getConstant() == b.getConstant();
  case TileExpr::Kind::Sym:
    return a.getSymbol() == b.getSymbol() &&
           a.getOperandIndex() == b.getOperandIndex();
  default:
    break;
  }
  if (a.getOperands().size() != b.getOperands().size())
    return false;
  for (auto [x, y] : llvm::zip(a.getOperands(), b.getOperands()))
    if (!sameTree(x, y, budget))
      return false;
  return true;
}

TileExpr mlir::attn::operator+(const TileExpr &a, const TileExpr &b) {
  auto ca = a.getConstant(), cb = b.getConstant();
  int64_t sum;
  if (ca && cb && !llvm::AddOverflow(*ca, *cb, sum))
    return sum;
  if (ca == 0)
    return b;
  if (cb == 0)
    return a;
  // (x + c1) + c2 = x + (c1 + c2), (x - c1) + c2 = x + (c2 - c1)
  if (cb && (a.getKind() == TileExpr::Kind::Add ||
             a.getKind() == TileExpr::Kind::Sub)) {
    if (auto inner = a.getOperands()[1].getConstant()) {
      int64_t c = a.getKind() == TileExpr::Kind::Add ? *inner : -*inner;
      if (!llvm::AddOverflow(c, *cb, sum))
        return a.getOperands()[0] + TileExpr(sum);
    }
  }
  if (cb && *cb < 0 && *cb != std::numeric_limits<int64_t>::min())
    return TileExpr::make(TileExpr::Kind::Sub, {a, TileExpr(-*cb)});
  return TileExpr::make(TileExpr::Kind::Add, {a, b});
}

TileExpr mlir::attn::operator-(const TileExpr &a, const TileExpr &b) {
  auto cb = b.getConstant();
  if (cb && *cb != std::numeric_limits<int64_t>::min())
    return a + TileExpr(-*cb);
  if (sameTree(a, b))
    return 0;
  auto ca = a.getConstant();
  int64_t diff;
  if (ca && cb && !llvm::SubOverflow(*ca, *cb, diff))
    return diff;
  return TileExpr::make(TileExpr::Kind::Sub, {a, b});
}

TileExpr mlir::attn::operator*(const TileExpr &a, const TileExpr &b) {
  auto ca = a.getConstant(), cb = b.getConstant();
  int64_t product;
  if (ca && cb && !llvm::MulOverflow(*ca, *cb, product))
    return product;
  if (ca == 1)
    return b;
  if (cb == 1)
    return a;
  if (ca == 0 || cb == 0)
    return 0;
  return TileExpr::make(TileExpr::Kind::Mul, {a, b});
}

/// Whether the expression is >= 0 for all values of its symbols (the
/// lengths, tile bounds, head and batch are; runtime operands may not be).
static bool isNonNegative(const TileExpr &e) {
  llvm::ArrayRef<TileExpr> ops = e.getOperands();
  switch (e.getKind()) {
  case TileExpr::Kind::Const:
    return *e.getConstant() >= 0;
  case TileExpr::Kind::Sym:
    return e.getSymbol() != TileSymbol::Operand;
  case TileExpr::Kind::Add:
  case TileExpr::Kind::Mul:
  case TileExpr::Kind::Min:
  case TileExpr::Kind::FloorDiv:
  case TileExpr::Kind::CeilDiv:
    return isNonNegative(ops[0]) && isNonNegative(ops[1]);
  case TileExpr::Kind::Max:
    return isNonNegative(ops[0]) || isNonNegative(ops[1]);
  case TileExpr::Kind::Mod:
    return true;
  case TileExpr::Kind::SelectLT:
    return isNonNegative(ops[2]) && isNonNegative(ops[3]);
  case TileExpr::Kind::Sub:
    return false;
  }
  llvm_unreachable("unknown kind");
}

/// Whether `e` is `kind(..., x, ...)`.
static bool hasOperand(const TileExpr &e, TileExpr::Kind kind,
                       const TileExpr &x) {
  return e.getKind() == kind &&
         llvm::any_of(e.getOperands(),
                      [&](const TileExpr &o) { return sameTree(o, x); });
}

TileExpr TileExpr::min(const TileExpr &a, const TileExpr &b) {
  auto ca = a.getConstant(), cb = b.getConstant();
  if (ca && cb)
    return std::min(*ca, *cb);
  if (sameTree(a, b))
    return a;
  // min(min(x, y), y) = min(x, y); min(x, max(x, y)) = x.
  if (hasOperand(a, Kind::Min, b) || hasOperand(b, Kind::Max, a))
    return a;
  if (hasOperand(b, Kind::Min, a) || hasOperand(a, Kind::Max, b))
    return b;
  if ((ca == 0 && isNonNegative(b)) || (cb == 0 && isNonNegative(a)))
    return 0;
  return make(Kind::Min, {a, b});
}

TileExpr TileExpr::max(const TileExpr &a, const TileExpr &b) {
  auto ca = a.getConstant(), cb = b.getConstant();
  if (ca && cb)
    return std::max(*ca, *cb);
  if (sameTree(a, b))
    return a;
  // max(max(x, y), y) = max(x, y); max(x, min(x, y)) = x.
  if (hasOperand(a, Kind::Max, b) || hasOperand(b, Kind::Min, a))
    return a;
  if (hasOperand(b, Kind::Max, a) || hasOperand(a, Kind::Min, b))
    return b;
  if (ca == 0 && isNonNegative(b))
    return b;
  if (cb == 0 && isNonNegative(a))
    return a;
  return make(Kind::Max, {a, b});
}

TileExpr TileExpr::floorDiv(const TileExpr &a, const TileExpr &b) {
  auto ca = a.getConstant(), cb = b.getConstant();
  if (cb == 1)
    return a;
  if (ca && cb && *cb > 0)
    return llvm::divideFloorSigned(*ca, *cb);
  return make(Kind::FloorDiv, {a, b});
}

TileExpr TileExpr::ceilDiv(const TileExpr &a, const TileExpr &b) {
  auto ca = a.getConstant(), cb = b.getConstant();
  if (cb == 1)
    return a;
  if (ca && cb && *cb > 0)
    return llvm::divideCeilSigned(*ca, *cb);
  return make(Kind::CeilDiv, {a, b});
}

TileExpr TileExpr::mod(const TileExpr &a, const TileExpr &b) {
  auto ca = a.getConstant(), cb = b.getConstant();
  if (cb == 1)
    return 0;
  if (ca && cb && *cb > 0)
    return *ca - llvm::divideFloorSigned(*ca, *cb) * *cb;
  return make(Kind::Mod, {a, b});
}

TileExpr TileExpr::selectLT(const TileExpr &lhs, const TileExpr &rhs,
                            const TileExpr &ifTrue, const TileExpr &ifFalse) {
  auto cl = lhs.getConstant(), cr = rhs.getConstant();
  if (cl && cr)
    return *cl < *cr ? ifTrue : ifFalse;
  if (sameTree(ifTrue, ifFalse))
    return ifTrue;
  return make(Kind::SelectLT, {lhs, rhs, ifTrue, ifFalse});
}

TileExpr TileExpr::make(Kind kind, llvm::ArrayRef<TileExpr> operands) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  n->operands.assign(operands.begin(), operands.end());
  return TileExpr(std::move(n));
}

std::optional<int64_t> TileExpr::evaluate(const Env &env) const {
  EvaluationCache cache;
  return evaluate(env, cache);
}

std::optional<int64_t> TileExpr::evaluate(const Env &env,
                                          EvaluationCache &cache) const {
  auto it = cache.find(node.get());
  if (it != cache.end())
    return it->second;
  std::optional<int64_t> result = evaluateNode(env, cache);
  cache[node.get()] = result;
  return result;
}

std::optional<int64_t> TileExpr::evaluateNode(const Env &env,
                                              EvaluationCache &cache) const {
  switch (node->kind) {
  case Kind::Const:
    return node->value;
  case Kind::Sym:
    switch (node->symbol) {
    case TileSymbol::QueryBegin:
      return env.queryBegin;
    case TileSymbol::QueryEnd:
      return env.queryEnd;
    case TileSymbol::QueryLen:
      return env.queryLen;
    case TileSymbol::KeyLen:
      return env.keyLen;
    case TileSymbol::Head:
      return env.head;
    case TileSymbol::Batch:
      return env.batch;
    case TileSymbol::Operand:
      if (!env.operand)
        return std::nullopt;
      return env.operand(node->value, env.batch);
    }
    llvm_unreachable("unknown symbol");
  default:
    break;
  }
  llvm::SmallVector<int64_t, 4> v;
  for (const TileExpr &operand : node->operands) {
    std::optional<int64_t> value = operand.evaluate(env, cache);
    if (!value)
      return std::nullopt;
    v.push_back(*value);
  }
  int64_t result = 0;
  switch (node->kind) {
  case Kind::Add:
    if (llvm::AddOverflow(v[0], v[1], result))
      return std::nullopt;
    return result;
  case Kind::Sub:
    if (llvm::SubOverflow(v[0], v[1], result))
      return std::nullopt;
    return result;
  case Kind::Mul:
    if (llvm::MulOverflow(v[0], v[1], result))
      return std::nullopt;
    return result;
  case Kind::Min:
    return std::min(v[0], v[1]);
  case Kind::Max:
    return std::max(v[0], v[1]);
  case Kind::FloorDiv:
    if (v[1] <= 0)
      return std::nullopt;
    return llvm::divideFloorSigned(v[0], v[1]);
  case Kind::CeilDiv:
    if (v[1] <= 0)
      return std::nullopt;
    return llvm::divideCeilSigned(v[0], v[1]);
  case Kind::Mod:
    if (v[1] <= 0)
      return std::nullopt;
    return v[0] - llvm::divideFloorSigned(v[0], v[1]) * v[1];
  case Kind::SelectLT:
    return v[0] < v[1] ? v[2] : v[3];
  case Kind::Const:
  case Kind::Sym:
    break;
  }
  llvm_unreachable("leaf kinds handled above");
}

int64_t TileExpr::getTreeSize(int64_t cap) const {
  llvm::DenseMap<const Node *, int64_t> sizes;
  std::function<int64_t(const TileExpr &)> size = [&](const TileExpr &e) {
    auto it = sizes.find(e.node.get());
    if (it != sizes.end())
      return it->second;
    int64_t total = 1;
    for (const TileExpr &operand : e.node->operands)
      total = std::min(cap, total + size(operand));
    sizes[e.node.get()] = total;
    return total;
  };
  return size(*this);
}

void TileExpr::walk(const std::function<void(const TileExpr &)> &visit) const {
  llvm::SmallPtrSet<const Node *, 32> seen;
  std::function<void(const TileExpr &)> recurse = [&](const TileExpr &e) {
    if (!seen.insert(e.node.get()).second)
      return;
    visit(e);
    for (const TileExpr &operand : e.node->operands)
      recurse(operand);
  };
  recurse(*this);
}

void TileExpr::print(llvm::raw_ostream &os) const {
  auto printCall = [&](llvm::StringRef name) {
    os << name << "(";
    llvm::interleaveComma(node->operands, os,
                          [&](const TileExpr &e) { e.print(os); });
    os << ")";
  };
  auto printBinary = [&](llvm::StringRef op) {
    os << "(";
    node->operands[0].print(os);
    os << " " << op << " ";
    node->operands[1].print(os);
    os << ")";
  };
  switch (node->kind) {
  case Kind::Const:
    os << node->value;
    return;
  case Kind::Sym:
    switch (node->symbol) {
    case TileSymbol::QueryBegin:
      os << "i0";
      return;
    case TileSymbol::QueryEnd:
      os << "i1";
      return;
    case TileSymbol::QueryLen:
      os << "Sq";
      return;
    case TileSymbol::KeyLen:
      os << "Sk";
      return;
    case TileSymbol::Head:
      os << "h";
      return;
    case TileSymbol::Batch:
      os << "b";
      return;
    case TileSymbol::Operand:
      os << "%" << node->value;
      return;
    }
    llvm_unreachable("unknown symbol");
  case Kind::Add:
    return printBinary("+");
  case Kind::Sub:
    return printBinary("-");
  case Kind::Mul:
    return printBinary("*");
  case Kind::Min:
    return printCall("min");
  case Kind::Max:
    return printCall("max");
  case Kind::FloorDiv:
    return printCall("floordiv");
  case Kind::CeilDiv:
    return printCall("ceildiv");
  case Kind::Mod:
    return printCall("mod");
  case Kind::SelectLT:
    os << "(";
    node->operands[0].print(os);
    os << " < ";
    node->operands[1].print(os);
    os << " ? ";
    node->operands[2].print(os);
    os << " : ";
    node->operands[3].print(os);
    os << ")";
    return;
  }
  llvm_unreachable("unknown kind");
}
