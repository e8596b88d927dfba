//===- AttnBase.td - attn dialect definition and enums -----*- tablegen -*-===//
//
// The attn dialect record, the base class of its ops, and the enumerations
// shared by attributes and ops (alignment, layouts, pooling, gates).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNBASE_TD
#define ATTN_DIALECT_ATTN_IR_ATTNBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let summary = "Declarative attention: masks, score modifiers, normalizations, selection";
  let description = [{
    The `attn` dialect describes an attention computation by *what* it
    computes rather than how: which (query, key) pairs are allowed (a mask
    algebra over structured leaves and a general predicate region), how scores
    are modified (structured modifiers and a general score region), how rows
    are normalized, how the output is gated, and which keys a data-dependent
    selection keeps. Selection ops produce index sets as ordinary tensors that
    attention ops consume, so sharing a selection between heads or layers is
    plain SSA use.

    Runtime values (window sizes, softcap, sink counts, lengths, slopes) are
    SSA operands: a structured attribute parameter printed as `?` reads the
    next operand of its group, exactly like dynamic sizes in `tensor.empty`.
    Canonicalization folds constant operands back into the attribute.

    See docs/Rationale.md for the design and docs/Patterns.md for the IR of
    every entry of the attention pattern catalog.
  }];
  let cppNamespace = "::mlir::attn";
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// Registers the attributes (defined next to their storage classes).
    void registerAttributes();
  }];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits> {
  let hasVerifier = 1;
}

class Attn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Attn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Enumerations
//===----------------------------------------------------------------------===//

def Attn_AlignTopLeft : I32EnumAttrCase<"top_left", 0>;
def Attn_AlignBottomRight : I32EnumAttrCase<"bottom_right", 1>;
def Attn_Align : I32EnumAttr<"Align",
    "where the diagonal of a causal or windowed mask sits",
    [Attn_AlignTopLeft, Attn_AlignBottomRight]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_LayoutBHSD : I32EnumAttrCase<"bhsd", 0>;
def Attn_LayoutBSHD : I32EnumAttrCase<"bshd", 1>;
def Attn_LayoutTHD : I32EnumAttrCase<"thd", 2>;
def Attn_LayoutPaged : I32EnumAttrCase<"paged", 3>;
def Attn_Layout : I32EnumAttr<"Layout",
    "memory order of a query/key/value tensor",
    [Attn_LayoutBHSD, Attn_LayoutBSHD, Attn_LayoutTHD, Attn_LayoutPaged]> {
  let cppNamespace = "::mlir::attn";
}

def Attn_PoolMean : I32EnumAttrCase<"mean", 0>;
def Attn_PoolMax : I32EnumAttrCase<"max", 1>;
def Attn_Pool : I32EnumAttr<"PoolKind", "how a block of tokens is pooled",
    [Attn_PoolMean, Attn_PoolMax]> {
  let cppNamespace = "::mlir::attn";
}

def Attn_GateSigmoid : I32EnumAttrCase<"sigmoid", 0>;
def Attn_GateLinear : I32EnumAttrCase<"linear", 1>;
def Attn_GateActivation : I32EnumAttr<"GateActivation",
    "activation applied to an output gate before it multiplies O",
    [Attn_GateSigmoid, Attn_GateLinear]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_GranularityHead : I32EnumAttrCase<"head", 0>;
def Attn_GranularityElement : I32EnumAttrCase<"element", 1>;
def Attn_GateGranularity : I32EnumAttr<"GateGranularity",
    "whether a gate has one value per head or per output element",
    [Attn_GranularityHead, Attn_GranularityElement]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_SideQuery : I32EnumAttrCase<"query", 0>;
def Attn_SideKey : I32EnumAttrCase<"key", 1>;
def Attn_Side : I32EnumAttr<"Side", "query or key side of the score matrix",
    [Attn_SideQuery, Attn_SideKey]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_DistanceAbs : I32EnumAttrCase<"abs", 0>;
def Attn_DistanceManhattan : I32EnumAttrCase<"manhattan", 1>;
def Attn_Distance : I32EnumAttr<"Distance",
    "distance between query and key positions used by a decay bias",
    [Attn_DistanceAbs, Attn_DistanceManhattan]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_FeatureIdentity : I32EnumAttrCase<"identity", 0>;
def Attn_FeatureElu : I32EnumAttrCase<"elu_plus_one", 1>;
def Attn_FeatureRelu : I32EnumAttrCase<"relu", 2>;
def Attn_FeatureMap : I32EnumAttr<"FeatureMap",
    "feature map phi of linear attention",
    [Attn_FeatureIdentity, Attn_FeatureElu, Attn_FeatureRelu]> {
  let cppNamespace = "::mlir::attn";
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNBASE_TD
