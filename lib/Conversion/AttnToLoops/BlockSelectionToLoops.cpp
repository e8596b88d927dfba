//===- BlockSelectionToLoops.cpp - block selections to loops --------------===//
//
// The block-level selections of attn-lower-selection: `attn.block_topk`
// (D3), `attn.hip_topk` (D4), `attn.threshold_blocks` (D5) and
// `attn.pyramid_levels` (D6). All walk (batch, query head, query block) and
// decide which key blocks are candidates (the mask allows some pair of the
// two blocks). D3-D5 write a `#attn.blocks` layout: counts [B, Hq, QB] and
// ascending key block lists [B, Hq, QB, width] padded with -1; D6 writes a
// level per block pair for `#attn.pyramid`. They differ in how they rank:
//
//  - D3 scores every candidate by pooled query block . pooled key block and
//    keeps the k best (radix select);
//  - D4 searches a tree: the candidate list is split into `branch` parts,
//    each part scored by the pooled query block . the first key of its
//    first block; the k best parts are split again until k single blocks
//    remain (O(k * branch * log(candidates)) scores instead of one per
//    block);
//  - D5 estimates each candidate's attention mass from the block's last
//    query against the mean-pooled key block (weighted by the keys in the
//    block, normalized over the candidates) and takes blocks largest
//    first until `gamma` of the mass is covered (at least `min_blocks`);
//  - D6 estimates the same mass from the pooled query block and gives each
//    candidate the finest level whose threshold its mass reaches.
//
//===----------------------------------------------------------------------===//

#include "SelectionBuilder.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

using arith::CmpIPredicate;

namespace {

/// What the block selections share: Q [B, Hq, Sq, D] and K [B, Hkv, Sk, D]
/// as buffers, the block grid, the result buffers, and the loop over
/// (batch, query head, query block).
class BlockSelection {
public:
  template <typename OpT>
  BlockSelection(OpT op, RewriterBase &b, RowThreads *threaded)
      : s(b, op.getLoc(), threaded), b(b), loc(op.getLoc()),
        op(op.getOperation()), mask(op.getMaskAttr()), qBlock(op.getQBlock()),
        kBlock(op.getKBlock()) {
    b.setInsertionPoint(op);
    q = s.buffer(op.getQuery());
    k = s.buffer(op.getKey());
    maskOps = s.buffers(op.getMaskOperands());
    batch = s.dim(q, 0);
    heads = s.dim(q, 1);
    queryLen = s.dim(q, 2);
    dim = s.dim(q, 3);
    keyLen = s.dim(k, 2);
    qBlocks = arith::CeilDivSIOp::create(b, loc, queryLen, s.idx(qBlock));
    kBlocks = arith::CeilDivSIOp::create(b, loc, keyLen, s.idx(kBlock));
    group = arith::DivUIOp::create(b, loc, heads, s.dim(k, 1));
    for (Value result : op->getResults()) {
      resultTypes.push_back(cast<RankedTensorType>(result.getType()));
      results.push_back(
          s.allocShaped(resultTypes.back(), {batch, heads, qBlocks, kBlocks}));
    }
    if (results.size() == 2) {
      counts = results[0];
      indices = results[1];
      width = s.dim(indices, 3);
    }
    pooledQuery = row(b.getF32Type(), dim);
    hist = memref::AllocaOp::create(b, loc,
                                    MemRefType::get({256}, b.getI32Type()));
  }

  SelectionBuilder s;
  RewriterBase &b;
  Location loc;
  Operation *op;
  Attribute mask;
  int64_t qBlock, kBlock;
  Value q, k;
  SmallVector<Value> maskOps;
  Value batch, heads, queryLen, dim, keyLen, qBlocks, kBlocks, group;
  /// The results' buffers: counts and indices of the block lists (D3-D5),
  /// or the levels (D6).
  SmallVector<RankedTensorType> resultTypes;
  SmallVector<Value> results;
  Value counts, indices, width;
  /// f32 [D]: the pooled query block of the current iteration.
  Value pooledQuery;
  /// i32 [256]: the radix select's histogram.
  Value hist;

  Value row(Type element, Value size) { return s.row(element, size); }
  Value load(Value buffer, ValueRange at) {
    return memref::LoadOp::create(b, loc, buffer, at);
  }
  Value count(Value r0, Value r1) {
    return arith::SIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                   arith::SubIOp::create(b, loc, r1, r0)));
  }
  /// Keys [j0, j1) of key block `kb`.
  std::pair<Value, Value> keyRange(Value kb) {
    Value j0 = arith::MulIOp::create(b, loc, kb, s.idx(kBlock));
    return {j0, arith::MinSIOp::create(
                    b, loc, arith::AddIOp::create(b, loc, j0, s.idx(kBlock)),
                    keyLen)};
  }
  /// sum_d vector[d] * value(d) in f32.
  template <typename Fn> Value dot(Value vector, Fn value) {
    Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
    return s.loop(s.idx(0), dim, {zeroF}, [&](Value d, ValueRange acc) {
      return SmallVector<Value>{arith::AddFOp::create(
          b, loc, acc[0],
          arith::MulFOp::create(b, loc, load(vector, {d}), value(d)))};
    })[0];
  }
  /// Whether key block `kb` is a candidate for queries [i0, i1) of (bb, h).
  Value candidate(Value bb, Value h, Value i0, Value i1, Value kb) {
    auto [j0, j1] = keyRange(kb);
    return s.allowsAny({mask, maskOps, queryLen, keyLen, heads}, bb, h, i0, i1,
                       j0, j1);
  }

  /// body(bb, h, g, qb, i0, i1) for every (batch, query head, query block),
  /// with the pooled query block in `pooledQuery` when `pool` is set; the
  /// body returns the block's count (i32) when it wrote a list.
  template <typename Body>
  void forEachQueryBlock(std::optional<bool> pool, Body body,
                         function_ref<void(Value, Value)> perHead = nullptr) {
    Value zero = s.idx(0);
    s.loop(zero, batch, {}, [&](Value bb, ValueRange) {
      // (head, query block) rows: independent (threads on the GPU). With
      // `perHead(bb, h)` first, for what a head's query blocks share (on
      // the GPU: a block per head, its threads the query blocks).
      std::function<void(Value)> outer;
      if (perHead)
        outer = [&](Value h) { perHead(bb, h); };
      s.rows(
          heads, qBlocks,
          [&](Value h, Value qb) {
            Value g = arith::DivUIOp::create(b, loc, h, group);
            {
              Value i0 = arith::MulIOp::create(b, loc, qb, s.idx(qBlock));
              Value i1 = arith::MinSIOp::create(
                  b, loc, arith::AddIOp::create(b, loc, i0, s.idx(qBlock)),
                  queryLen);
              if (pool)
                s.loop(zero, dim, {}, [&](Value d, ValueRange) {
                  memref::StoreOp::create(
                      b, loc, s.poolRows(q, bb, h, i0, i1, d, *pool),
                      pooledQuery, ValueRange{d});
                  return SmallVector<Value>{};
                });
              if (Value n = body(bb, h, g, qb, i0, i1))
                memref::StoreOp::create(b, loc, n, counts,
                                        ValueRange{bb, h, qb});
            }
          },
          outer ? function_ref<void(Value)>(outer) : nullptr);
      return SmallVector<Value>{};
    });
  }

  /// Writes list[0 .. n) (i32 [*]) to the indices of (bb, h, qb), -1 after.
  void writeList(Value list, Value n, Value bb, Value h, Value qb) {
    s.loop(s.idx(0), width, {}, [&](Value t, ValueRange) {
      Value listed =
          arith::CmpIOp::create(b, loc, CmpIPredicate::slt, t, s.toIndex(n));
      Value value = s.ifThen(listed, {s.i32(-1)}, [&] {
        return SmallVector<Value>{load(list, {t})};
      })[0];
      memref::StoreOp::create(b, loc, value, indices, ValueRange{bb, h, qb, t});
      return SmallVector<Value>{};
    });
  }

  void replace() {
    b.replaceOp(
        op,
        llvm::map_to_vector(llvm::zip(results, resultTypes), [&](auto result) {
          return s.toTensor(std::get<0>(result), std::get<1>(result));
        }));
  }
};

} // namespace

/// attn.block_topk (D3): per (b, h, query block), the pooled query block
/// against every candidate pooled key block, the k best by dot product (the
/// local block first with `include_local`), by the radix select.
LogicalResult mlir::attn::lowerSelection(BlockTopkOp op, RewriterBase &b,
                                         RowThreads *threaded) {
  BlockSelection sel(op, b, threaded);
  SelectionBuilder &s = sel.s;
  Location loc = op.getLoc();
  bool mean = op.getPool() == PoolKind::mean;
  Value keyRow = sel.row(b.getI32Type(), sel.kBlocks);
  // The head's pooled key blocks [KB, D], pooled once for its query blocks.
  Value pooledKeys =
      s.row(b.getF32Type(), arith::MulIOp::create(b, loc, sel.kBlocks, sel.dim),
            /*shared=*/true);
  auto poolKeys = [&](Value bb, Value h) {
    Value g = arith::DivUIOp::create(b, loc, h, sel.group);
    s.sharedLoop(
        arith::MulIOp::create(b, loc, sel.kBlocks, sel.dim), [&](Value e) {
          Value kb = arith::DivUIOp::create(b, loc, e, sel.dim);
          Value d = arith::RemUIOp::create(b, loc, e, sel.dim);
          auto [j0, j1] = sel.keyRange(kb);
          memref::StoreOp::create(b, loc,
                                  sel.s.poolRows(sel.k, bb, g, j0, j1, d, mean),
                                  pooledKeys, ValueRange{e});
        });
  };
  sel.forEachQueryBlock(
      mean,
      [&](Value bb, Value h, Value g, Value qb, Value i0, Value i1) {
        Value local = arith::DivUIOp::create(
            b, loc, arith::SubIOp::create(b, loc, i1, s.idx(1)),
            s.idx(sel.kBlock));
        s.loop(s.idx(0), sel.kBlocks, {}, [&](Value kb, ValueRange) {
          Value at = arith::MulIOp::create(b, loc, kb, sel.dim);
          Value score = sel.dot(sel.pooledQuery, [&](Value d) {
            return sel.load(pooledKeys, {arith::AddIOp::create(b, loc, at, d)});
          });
          Value key =
              arith::SelectOp::create(b, loc, sel.candidate(bb, h, i0, i1, kb),
                                      s.orderedKey(score), s.i32(0));
          if (op.getIncludeLocal())
            key = arith::SelectOp::create(
                b, loc,
                arith::CmpIOp::create(b, loc, CmpIPredicate::eq, kb, local),
                s.i32(-1), key);
          memref::StoreOp::create(b, loc, key, keyRow, ValueRange{kb});
          return SmallVector<Value>{};
        });
        return s.selectTop(keyRow, sel.kBlocks, op.getK(), sel.hist,
                           sel.indices, {bb, h, qb});
      },
      poolKeys);
  sel.replace();
  return success();
}

/// attn.hip_topk (D4): the candidates of (b, h, query block) in a list;
/// ranges of list positions, starting with the whole list, are split into
/// `branch` parts (floor boundaries; empty parts dropped), every part
/// scored by the pooled query block . K[first key of its first block], and
/// the k best parts (ties to the earlier part) kept, in order, until every
/// range is one block.
LogicalResult mlir::attn::lowerSelection(HipTopkOp op, RewriterBase &b,
                                         RowThreads *threaded) {
  BlockSelection sel(op, b, threaded);
  SelectionBuilder &s = sel.s;
  Location loc = op.getLoc();
  int64_t topk = op.getK(), branch = op.getBranch();
  Type index = b.getIndexType(), i32 = b.getI32Type();
  Value list = sel.row(i32, sel.kBlocks);
  Value rangeStart = sel.row(index, s.idx(topk)),
        rangeEnd = sel.row(index, s.idx(topk));
  Value partStart = sel.row(index, s.idx(topk * branch)),
        partEnd = sel.row(index, s.idx(topk * branch));
  Value partKey = sel.row(i32, s.idx(topk * branch));
  Value chosen = sel.row(i32, s.idx(topk));
  Value zero = s.idx(0), one = s.idx(1);
  auto store = [&](Value value, Value buffer, Value at) {
    memref::StoreOp::create(b, loc, value, buffer, ValueRange{at});
  };
  sel.forEachQueryBlock(/*pool=mean*/ true, [&](Value bb, Value h, Value g,
                                                Value qb, Value i0, Value i1) {
    Value n = s.toIndex(
        s.loop(zero, sel.kBlocks, {s.i32(0)}, [&](Value kb, ValueRange acc) {
          return s.ifThen(sel.candidate(bb, h, i0, i1, kb), acc, [&] {
            store(arith::IndexCastOp::create(b, loc, i32, kb), list,
                  s.toIndex(acc[0]));
            return SmallVector<Value>{
                arith::AddIOp::create(b, loc, acc[0], s.i32(1))};
          });
        })[0]);
    store(zero, rangeStart, zero);
    store(n, rangeEnd, zero);
    Value ranges = arith::SelectOp::create(
        b, loc, arith::CmpIOp::create(b, loc, CmpIPredicate::sgt, n, zero), one,
        zero);
    // While some range holds more than one block: split, score, keep.
    auto search = scf::WhileOp::create(b, loc, TypeRange{index, index},
                                       ValueRange{ranges, n});
    {
      OpBuilder::InsertionGuard guard(b);
      Block *before =
          b.createBlock(&search.getBefore(), {}, {index, index}, {loc, loc});
      scf::ConditionOp::create(b, loc,
                               arith::CmpIOp::create(b, loc, CmpIPredicate::sgt,
                                                     before->getArgument(1),
                                                     one),
                               before->getArguments());
      Block *after =
          b.createBlock(&search.getAfter(), {}, {index, index}, {loc, loc});
      Value parts = s.loop(
          zero, after->getArgument(0), {zero}, [&](Value r, ValueRange acc) {
            Value r0 = sel.load(rangeStart, {r}), r1 = sel.load(rangeEnd, {r});
            Value len = arith::SubIOp::create(b, loc, r1, r0);
            auto bound = [&](int64_t p) -> Value {
              return arith::AddIOp::create(
                  b, loc, r0,
                  arith::DivUIOp::create(
                      b, loc, arith::MulIOp::create(b, loc, len, s.idx(p)),
                      s.idx(branch)));
            };
            Value next = acc[0];
            for (int64_t p = 0; p < branch; ++p) {
              Value a = bound(p), z = bound(p + 1);
              Value nonEmpty =
                  arith::CmpIOp::create(b, loc, CmpIPredicate::slt, a, z);
              next = s.ifThen(nonEmpty, {next}, [&] {
                Value j = arith::MulIOp::create(
                    b, loc, s.toIndex(sel.load(list, {a})), s.idx(sel.kBlock));
                Value score = sel.dot(sel.pooledQuery, [&](Value d) {
                  return s.toF32(sel.load(sel.k, {bb, g, j, d}));
                });
                store(a, partStart, next);
                store(z, partEnd, next);
                store(s.orderedKey(score), partKey, next);
                return SmallVector<Value>{
                    arith::AddIOp::create(b, loc, next, one)};
              })[0];
            }
            return SmallVector<Value>{next};
          })[0];
      Value kept = s.toIndex(
          s.selectTop(partKey, parts, topk, sel.hist, chosen, ValueRange{}));
      Value longest = s.loop(zero, kept, {zero}, [&](Value t, ValueRange acc) {
        Value p = s.toIndex(sel.load(chosen, {t}));
        Value a = sel.load(partStart, {p}), z = sel.load(partEnd, {p});
        store(a, rangeStart, t);
        store(z, rangeEnd, t);
        return SmallVector<Value>{arith::MaxSIOp::create(
            b, loc, acc[0], arith::SubIOp::create(b, loc, z, a))};
      })[0];
      scf::YieldOp::create(b, loc, ValueRange{kept, longest});
    }
    // The kept single blocks, in list (ascending) order.
    Value found = search.getResult(0);
    s.loop(zero, found, {}, [&](Value t, ValueRange) {
      store(sel.load(list, {sel.load(rangeStart, {t})}), chosen, t);
      return SmallVector<Value>{};
    });
    Value count = arith::IndexCastOp::create(b, loc, i32, found);
    sel.writeList(chosen, count, bb, h, qb);
    return count;
  });
  sel.replace();
  return success();
}

/// attn.threshold_blocks (D5): per (b, h, query block), the mass of every
/// candidate key block estimated from the block's last query: n_j *
/// exp(q . mean(K_j) / sqrt(D)), normalized over the candidates; blocks
/// largest mass first (ties to the smaller block) until `gamma` of the
/// total is covered, at least `min_blocks`, listed in ascending order.
LogicalResult mlir::attn::lowerSelection(ThresholdBlocksOp op, RewriterBase &b,
                                         RowThreads *threaded) {
  BlockSelection sel(op, b, threaded);
  SelectionBuilder &s = sel.s;
  Location loc = op.getLoc();
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  Value list = sel.row(i32, sel.kBlocks), keyRow = sel.row(i32, sel.kBlocks);
  Value scores = sel.row(f32, sel.kBlocks), mass = sel.row(f32, sel.kBlocks);
  Value lastQuery = sel.row(f32, sel.dim);
  Value zero = s.idx(0);
  auto f32c = [&](double x) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(x));
  };
  auto store = [&](Value value, Value buffer, Value at) {
    memref::StoreOp::create(b, loc, value, buffer, ValueRange{at});
  };
  Value scale = math::RsqrtOp::create(b, loc, sel.count(s.idx(0), sel.dim));
  sel.forEachQueryBlock(std::nullopt, [&](Value bb, Value h, Value g, Value qb,
                                          Value i0, Value i1) {
    Value last = arith::SubIOp::create(b, loc, i1, s.idx(1));
    s.loop(zero, sel.dim, {}, [&](Value d, ValueRange) {
      store(s.toF32(sel.load(sel.q, {bb, h, last, d})), lastQuery, d);
      return SmallVector<Value>{};
    });
    // Candidates, their scores and the largest.
    SmallVector<Value> listed = s.loop(
        zero, sel.kBlocks, {s.i32(0), f32c(-INFINITY)},
        [&](Value kb, ValueRange acc) {
          store(s.i32(0), keyRow, kb);
          return s.ifThen(sel.candidate(bb, h, i0, i1, kb), acc, [&] {
            Value j0, j1;
            std::tie(j0, j1) = sel.keyRange(kb);
            Value score = arith::MulFOp::create(
                b, loc, scale, sel.dot(lastQuery, [&](Value d) {
                  return sel.s.poolRows(sel.k, bb, g, j0, j1, d, /*mean=*/true);
                }));
            store(score, scores, kb);
            store(arith::IndexCastOp::create(b, loc, i32, kb), list,
                  s.toIndex(acc[0]));
            return SmallVector<Value>{
                arith::AddIOp::create(b, loc, acc[0], s.i32(1)),
                arith::MaximumFOp::create(b, loc, acc[1], score)};
          });
        });
    Value n = s.toIndex(listed[0]);
    auto weight = [&](Value t) {
      Value kb = s.toIndex(sel.load(list, {t}));
      auto [j0, j1] = sel.keyRange(kb);
      Value w = arith::MulFOp::create(
          b, loc, sel.count(j0, j1),
          math::ExpOp::create(b, loc,
                              arith::SubFOp::create(
                                  b, loc, sel.load(scores, {kb}), listed[1])));
      return std::pair<Value, Value>{kb, w};
    };
    Value total = s.loop(zero, n, {f32c(0.0)}, [&](Value t, ValueRange acc) {
      return SmallVector<Value>{
          arith::AddFOp::create(b, loc, acc[0], weight(t).second)};
    })[0];
    Value sum = s.loop(zero, n, {f32c(0.0)}, [&](Value t, ValueRange acc) {
      auto [kb, w] = weight(t);
      Value m = arith::DivFOp::create(b, loc, w, total);
      store(m, mass, kb);
      store(s.orderedKey(m), keyRow, kb);
      return SmallVector<Value>{arith::AddFOp::create(b, loc, acc[0], m)};
    })[0];
    Value goal = arith::MulFOp::create(b, loc, sum,
                                       f32c(op.getGamma().convertToDouble()));
    // At most the width of the lists (the verifier makes it every key
    // block when the key length is static).
    Value count = arith::MinSIOp::create(
        b, loc,
        s.takeByMass(list, listed[0], keyRow, mass, goal,
                     s.i32(op.getMinBlocks())),
        arith::IndexCastOp::create(b, loc, i32, sel.width));
    sel.writeList(list, count, bb, h, qb);
    return count;
  });
  sel.replace();
  return success();
}

/// attn.pyramid_levels (D6): per (b, h, query block), the importance of
/// every candidate key block: n_j * exp(mean(Q_block) . mean(K_j) /
/// sqrt(D)), normalized over the candidates; the level is the smallest l
/// with importance >= thresholds[l] (keys pooled over 2^l tokens), -1
/// below the last threshold and for blocks that are not candidates.
LogicalResult mlir::attn::lowerSelection(PyramidLevelsOp op, RewriterBase &b,
                                         RowThreads *threaded) {
  BlockSelection sel(op, b, threaded);
  SelectionBuilder &s = sel.s;
  Location loc = op.getLoc();
  Type f32 = b.getF32Type();
  Type levelType = sel.resultTypes[0].getElementType();
  Value levels = sel.results[0];
  Value scores = sel.row(f32, sel.kBlocks);
  Value zero = s.idx(0);
  auto f32c = [&](double x) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(x));
  };
  Value negInf = f32c(-INFINITY);
  Value scale = math::RsqrtOp::create(b, loc, sel.count(zero, sel.dim));
  sel.forEachQueryBlock(
      /*pool=mean*/ true,
      [&](Value bb, Value h, Value g, Value qb, Value i0, Value i1) -> Value {
        auto size = [&](Value kb) {
          auto [j0, j1] = sel.keyRange(kb);
          return sel.count(j0, j1);
        };
        // Candidates' scores (-inf elsewhere) and the largest.
        Value max =
            s.loop(zero, sel.kBlocks, {negInf}, [&](Value kb, ValueRange acc) {
              SmallVector<Value> score =
                  s.ifThen(sel.candidate(bb, h, i0, i1, kb), {negInf}, [&] {
                    Value j0, j1;
                    std::tie(j0, j1) = sel.keyRange(kb);
                    return SmallVector<Value>{arith::MulFOp::create(
                        b, loc, scale, sel.dot(sel.pooledQuery, [&](Value d) {
                          return sel.s.poolRows(sel.k, bb, g, j0, j1, d,
                                                /*mean=*/true);
                        }))};
                  });
              memref::StoreOp::create(b, loc, score[0], scores, ValueRange{kb});
              return SmallVector<Value>{
                  arith::MaximumFOp::create(b, loc, acc[0], score[0])};
            })[0];
        // n_j e^(s_j - max), 0 for non-candidates.
        auto weight = [&](Value kb) -> Value {
          Value score = sel.load(scores, {kb});
          Value candidate = arith::CmpFOp::create(
              b, loc, arith::CmpFPredicate::OGT, score, negInf);
          Value w = arith::MulFOp::create(
              b, loc, size(kb),
              math::ExpOp::create(b, loc,
                                  arith::SubFOp::create(b, loc, score, max)));
          return arith::SelectOp::create(b, loc, candidate, w, f32c(0.0));
        };
        Value total = s.loop(
            zero, sel.kBlocks, {f32c(0.0)}, [&](Value kb, ValueRange acc) {
              return SmallVector<Value>{
                  arith::AddFOp::create(b, loc, acc[0], weight(kb))};
            })[0];
        ArrayRef<Attribute> thresholds = op.getThresholds().getValue();
        s.loop(zero, sel.kBlocks, {}, [&](Value kb, ValueRange) {
          // -1 for non-candidates (no weight) and with no candidate at all.
          Value importance = arith::DivFOp::create(
              b, loc, weight(kb),
              arith::MaximumFOp::create(b, loc, total, f32c(1e-38)));
          Value level = arith::ConstantIntOp::create(b, loc, levelType, -1);
          for (int64_t l = thresholds.size() - 1; l >= 0; --l) {
            double t = cast<FloatAttr>(thresholds[l]).getValueAsDouble();
            level = arith::SelectOp::create(
                b, loc,
                arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                      importance, f32c(t)),
                arith::ConstantIntOp::create(b, loc, levelType, l), level);
          }
          memref::StoreOp::create(b, loc, level, levels,
                                  ValueRange{bb, h, qb, kb});
          return SmallVector<Value>{};
        });
        return Value();
      });
  sel.replace();
  return success();
}
