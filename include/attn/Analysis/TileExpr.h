//===- TileExpr.h - closed-form integer expressions of tile indices -*- C++ -*-===//
//
// A small expression language over the quantities a tile loop knows: the
// bounds [i0, i1) of the current query tile, the sequence lengths, the head
// and batch indices, and runtime mask parameters. Tile classification
// produces its key ranges as TileExprs, so the same closed form can be
// evaluated (analysis, tests) and emitted as index arithmetic (lowering).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_TILEEXPR_H
#define ATTN_ANALYSIS_TILEEXPR_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace mlir::attn {

/// The free variables of a TileExpr.
enum class TileSymbol : uint8_t {
  QueryBegin, ///< i0, first query row of the tile
  QueryEnd,   ///< i1, one past the last query row of the tile
  QueryLen,   ///< Sq
  KeyLen,     ///< Sk
  Head,       ///< h
  Batch,      ///< b
  Operand,    ///< the value of mask operand #n (per batch for a tensor)
};

/// An immutable integer expression, shared by value.
class TileExpr {
public:
  struct Node;
  enum class Kind : uint8_t {
    Const, Sym, Add, Sub, Mul, Min, Max, FloorDiv, CeilDiv, Mod, SelectLT
  };

  TileExpr(int64_t value = 0);
  static TileExpr symbol(TileSymbol symbol, int64_t operand = -1);

  Kind getKind() const;
  /// The value of a constant expression.
  std::optional<int64_t> getConstant() const;

  friend TileExpr operator+(const TileExpr &a, const TileExpr &b);
  friend TileExpr operator-(const TileExpr &a, const TileExpr &b);
  friend TileExpr operator*(const TileExpr &a, const TileExpr &b);
  static TileExpr min(const TileExpr &a, const TileExpr &b);
  static TileExpr max(const TileExpr &a, const TileExpr &b);
  /// Division and remainder rounding towards -infinity; `b` must be positive
  /// when evaluated.
  static TileExpr floorDiv(const TileExpr &a, const TileExpr &b);
  static TileExpr ceilDiv(const TileExpr &a, const TileExpr &b);
  static TileExpr mod(const TileExpr &a, const TileExpr &b);
  /// `lhs < rhs ? ifTrue : ifFalse`.
  static TileExpr selectLT(const TileExpr &lhs, const TileExpr &rhs,
                           const TileExpr &ifTrue, const TileExpr &ifFalse);

  /// The values of the symbols for evaluation. `operand(n, batch)` returns
  /// mask operand #n (element `batch` of a per-batch tensor).
  struct Env {
    int64_t queryBegin = 0, queryEnd = 0, queryLen = 0, keyLen = 0;
    int64_t head = 0, batch = 0;
    std::function<std::optional<int64_t>(int64_t operand, int64_t batch)>
        operand;
  };
  /// Evaluates the expression; nullopt when an operand value is unknown.
  std::optional<int64_t> evaluate(const Env &env) const;
  /// Values of already evaluated nodes under one Env: shared subexpressions
  /// are evaluated once.
  using EvaluationCache =
      llvm::DenseMap<const Node *, std::optional<int64_t>>;
  std::optional<int64_t> evaluate(const Env &env,
                                  EvaluationCache &cache) const;

  /// Whether both refer to the same node (cheap; equal trees may still be
  /// distinct nodes).
  bool isSameNode(const TileExpr &other) const { return node == other.node; }
  /// Identity of the node, for memoizing over the DAG.
  const Node *getNode() const { return node.get(); }

  /// The number of nodes of the expression printed as a tree (shared
  /// subexpressions counted each time), saturating at `cap`.
  int64_t getTreeSize(int64_t cap) const;

  /// Walks the DAG: `visit` sees every node once, parents first.
  void walk(const std::function<void(const TileExpr &)> &visit) const;
  TileSymbol getSymbol() const;
  int64_t getOperandIndex() const;
  llvm::ArrayRef<TileExpr> getOperands() const;

  void print(llvm::raw_ostream &os) const;

private:
  explicit TileExpr(std::shared_ptr<const Node> node);
  std::optional<int64_t> evaluateNode(const Env &env,
                                      EvaluationCache &cache) const;
  static TileExpr make(Kind kind, llvm::ArrayRef<TileExpr> operands);
  std::shared_ptr<const Node> node;
};

inline llvm::raw_ostream &operator<<(llvm::raw_ostream &os,
                                     const TileExpr &expr) {
  expr.print(os);
  return os;
}

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_TILEEXPR_H
