"""Traces Python score and mask functions into the IR's general regions.

A function such as ``lambda s, b, h, q, k: s + slope[h] * (k - q)`` is
called once with symbolic values (`Sym`); every operator on them appends
an arith/math/tensor op to the region being built. The same function,
called with NumPy arrays, is the float64 reference of the region, so the
two cannot disagree about what the user wrote.

Symbolic values have one of three types: ``index`` (positions b, h, i, j
and integer arithmetic on them), ``f32`` (scores, captured floats) and
``i1`` (conditions). Python semantics are kept where MLIR's differ: ``//``
and ``%`` round toward minus infinity, ``/`` on integers is a float
division. Anything that needs a concrete value at trace time (``if``,
``int()``, ``math.exp``, indexing a NumPy array with a position) raises
`TraceError` naming the user's line; `attn.where`, `attn.exp`, ... and the
NumPy ufuncs (``np.exp(s)``, ``np.maximum(a, b)``) work on both.
"""

import os
import sys

import numpy as np

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


class TraceError(ValueError):
    """A function could not be traced; the message names the user's line."""


def user_frame():
    """(file, line) of the innermost caller outside this package."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith("<"):
            path = os.path.abspath(path)
        if not path.startswith(_PACKAGE + os.sep):
            return path, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


def location(file_line):
    """The MLIR location of a (file, line) pair."""
    path, line = file_line
    escaped = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'loc("{escaped}":{line}:1)'


def _fail(message):
    path, line = user_frame()
    raise TraceError(f"{path}:{line}: {message}")


class Region:
    """The body of one region being traced: its ops and its constants."""

    def __init__(self):
        self.lines = []
        self.count = 0
        self.constants = {}

    def fresh(self):
        self.count += 1
        return f"%t{self.count}"

    def emit(self, text, type_, result=True):
        name = self.fresh() if result else None
        prefix = f"{name} = " if result else ""
        self.lines.append(f"    {prefix}{text} {location(user_frame())}")
        return Sym(self, name, type_) if result else None

    def constant(self, value, type_):
        key = (repr(value), type_)
        if key not in self.constants:
            if type_ == "f32":
                literal = repr(float(value))
                if literal in ("inf", "-inf", "nan"):
                    literal = {"inf": "0x7F800000", "-inf": "0xFF800000",
                               "nan": "0x7FC00000"}[literal]
            else:
                literal = str(int(value))
            name = self.fresh()
            text = ("true" if value else "false") if type_ == "i1" else f"{literal} : {type_}"
            self.lines.insert(len(self.constants), f"    {name} = arith.constant {text}")
            self.constants[key] = Sym(self, name, type_)
        return self.constants[key]


_CMP_INT = {"<": "slt", "<=": "sle", "==": "eq", "!=": "ne", ">": "sgt",
            ">=": "sge"}
_CMP_FLOAT = {"<": "olt", "<=": "ole", "==": "oeq", "!=": "une", ">": "ogt",
              ">=": "oge"}


def _is_sym(x):
    return isinstance(x, Sym)


class Sym:
    """A symbolic SSA value of a region being traced."""

    __array_priority__ = 1000

    def __init__(self, region, name, type_):
        self.region, self.name, self.type = region, name, type_

    # -- conversions between the three types -----------------------------
    def _as(self, type_):
        if self.type == type_:
            return self
        if self.type == "index" and type_ == "f32":
            wide = self.region.emit(f"arith.index_cast {self.name} : index to i64", "i64")
            return self.region.emit(f"arith.sitofp {wide.name} : i64 to f32", "f32")
        if self.type == "i1" and type_ == "f32":
            return where(self, 1.0, 0.0)
        if self.type == "i1" and type_ == "index":
            return where(self, 1, 0)
        _fail(f"cannot use a {self.type} value where {type_} is needed")

    def _lift(self, other):
        """`other` as a Sym in this region."""
        if isinstance(other, Sym):
            return other
        other = resolve(other)
        if isinstance(other, Sym):
            return other
        if isinstance(other, (bool, np.bool_)):
            return self.region.constant(bool(other), "i1")
        if isinstance(other, (int, np.integer)):
            return self.region.constant(int(other), "index" if self.type == "index" else "f32")
        if isinstance(other, (float, np.floating)):
            return self.region.constant(float(other), "f32")
        _fail(f"cannot combine a traced value with {type(other).__name__} "
              f"(captured arrays must be attn.tensor operands)")

    def _binary(self, other, int_op, float_op, reverse=False):
        a, b = self, self._lift(other)
        if reverse:
            a, b = b, a
        if a.type == "i1" or b.type == "i1":
            _fail("arithmetic on a condition; use attn.where(cond, a, b)")
        if a.type == "index" and b.type == "index" and int_op:
            return self.region.emit(f"arith.{int_op} {a.name}, {b.name} : index", "index")
        a, b = a._as("f32"), b._as("f32")
        return self.region.emit(f"arith.{float_op} {a.name}, {b.name} : f32", "f32")

    def __add__(self, o): return self._binary(o, "addi", "addf")
    def __radd__(self, o): return self._binary(o, "addi", "addf", True)
    def __sub__(self, o): return self._binary(o, "subi", "subf")
    def __rsub__(self, o): return self._binary(o, "subi", "subf", True)
    def __mul__(self, o): return self._binary(o, "muli", "mulf")
    def __rmul__(self, o): return self._binary(o, "muli", "mulf", True)
    def __truediv__(self, o): return self._binary(o, None, "divf")
    def __rtruediv__(self, o): return self._binary(o, None, "divf", True)

    def _floordiv(self, a, b):
        if a.type == "index" and b.type == "index":
            return self.region.emit(f"arith.floordivsi {a.name}, {b.name} : index", "index")
        q = self.region.emit(f"arith.divf {a._as('f32').name}, {b._as('f32').name} : f32", "f32")
        return self.region.emit(f"math.floor {q.name} : f32", "f32")

    def __floordiv__(self, o): return self._floordiv(self, self._lift(o))
    def __rfloordiv__(self, o): return self._floordiv(self._lift(o), self)

    def _mod(self, a, b):
        # Python's modulo: a - b * floor(a / b), the sign of the divisor.
        return a - b * self._floordiv(a, b)

    def __mod__(self, o): return self._mod(self, self._lift(o))
    def __rmod__(self, o): return self._mod(self._lift(o), self)

    def __neg__(self):
        if self.type == "index":
            return self.region.constant(0, "index") - self
        if self.type == "i1":
            _fail("negating a condition; use ~cond")
        return self.region.emit(f"arith.negf {self.name} : f32", "f32")

    def __pos__(self):
        return self

    def __abs__(self):
        if self.type == "index":
            return where(self < 0, -self, self)
        return self.region.emit(f"math.absf {self._as('f32').name} : f32", "f32")

    def _compare(self, other, op):
        a, b = self, self._lift(other)
        if a.type == "i1" and b.type == "i1" and op in ("==", "!="):
            return self.region.emit(
                f"arith.cmpi {_CMP_INT[op]}, {a.name}, {b.name} : i1", "i1")
        if a.type == "index" and b.type == "index":
            return self.region.emit(
                f"arith.cmpi {_CMP_INT[op]}, {a.name}, {b.name} : index", "i1")
        a, b = a._as("f32"), b._as("f32")
        return self.region.emit(
            f"arith.cmpf {_CMP_FLOAT[op]}, {a.name}, {b.name} : f32", "i1")

    def __lt__(self, o): return self._compare(o, "<")
    def __le__(self, o): return self._compare(o, "<=")
    def __gt__(self, o): return self._compare(o, ">")
    def __ge__(self, o): return self._compare(o, ">=")
    def __eq__(self, o): return self._compare(o, "==")
    def __ne__(self, o): return self._compare(o, "!=")
    __hash__ = object.__hash__

    def _logic(self, other, op, reverse=False):
        a, b = self, self._lift(other)
        if reverse:
            a, b = b, a
        if a.type != "i1" or b.type != "i1":
            _fail(f"'{ {'andi': '&', 'ori': '|', 'xori': '^'}[op]}' needs two "
                  f"conditions (comparisons), got {a.type} and {b.type}")
        return self.region.emit(f"arith.{op} {a.name}, {b.name} : i1", "i1")

    def __and__(self, o): return self._logic(o, "andi")
    def __rand__(self, o): return self._logic(o, "andi", True)
    def __or__(self, o): return self._logic(o, "ori")
    def __ror__(self, o): return self._logic(o, "ori", True)
    def __xor__(self, o): return self._logic(o, "xori")
    def __rxor__(self, o): return self._logic(o, "xori", True)

    def __invert__(self):
        if self.type != "i1":
            _fail("'~' needs a condition (a comparison)")
        return self._logic(True, "xori")

    def __bool__(self):
        _fail("a traced value has no truth value at trace time: use "
              "attn.where(cond, a, b) instead of if/and/or/not, and & | ~ "
              "to combine conditions")

    def __int__(self):
        _fail("a traced value cannot be converted to a Python int")

    def __float__(self):
        _fail("a traced value cannot be converted to a Python float (use "
              "attn.exp, np.exp, ... instead of the math module)")

    def __index__(self):
        _fail("a traced position cannot index a NumPy array or list; pass "
              "the array as an attn.tensor operand and index that")

    def __iter__(self):
        _fail("a traced value cannot be iterated")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            _fail(f"np.{ufunc.__name__}.{method} is not traceable")
        handler = _UFUNCS.get(ufunc.__name__)
        if handler is None:
            _fail(f"np.{ufunc.__name__} is not traceable (supported: "
                  f"{', '.join(sorted(_UFUNCS))})")
        return handler(*inputs)

    def __repr__(self):
        return f"Sym({self.name}: {self.type})"


# -- deferred operands -------------------------------------------------------

class Deferred:
    """A value known only when a function is traced (a block argument) or
    evaluated (a bound NumPy value): the spec's runtime operands. Operators
    resolve it first."""

    def _value(self):
        raise NotImplementedError

    def __add__(self, o): return self._value() + o
    def __radd__(self, o): return o + self._value()
    def __sub__(self, o): return self._value() - o
    def __rsub__(self, o): return o - self._value()
    def __mul__(self, o): return self._value() * o
    def __rmul__(self, o): return o * self._value()
    def __truediv__(self, o): return self._value() / o
    def __rtruediv__(self, o): return o / self._value()
    def __floordiv__(self, o): return self._value() // o
    def __rfloordiv__(self, o): return o // self._value()
    def __mod__(self, o): return self._value() % o
    def __rmod__(self, o): return o % self._value()
    def __neg__(self): return -self._value()
    def __abs__(self): return abs(self._value())
    def __lt__(self, o): return self._value() < o
    def __le__(self, o): return self._value() <= o
    def __gt__(self, o): return self._value() > o
    def __ge__(self, o): return self._value() >= o
    def __getitem__(self, index): return _subscript(self._value(), index)
    __hash__ = object.__hash__


def resolve(x):
    return x._value() if isinstance(x, Deferred) else x


class _Scope:
    """What deferred operands stand for while a function runs."""
    current = None

    def __init__(self, values):
        self.values = values

    def __enter__(self):
        self.saved, _Scope.current = _Scope.current, self
        return self

    def __exit__(self, *exc):
        _Scope.current = self.saved


def bound(operand):
    """The value `operand` stands for in the active scope."""
    scope = _Scope.current
    if scope is None or operand.name not in scope.values:
        _fail(f"operand '{operand.name}' is only usable inside a score or "
              f"mask function")
    return scope.values[operand.name]


class TensorView:
    """A captured tensor inside a traced region: indexing extracts."""

    def __init__(self, region, name, shape, dtype):
        self.region, self.name, self.shape, self.dtype = region, name, shape, dtype

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        if len(index) != len(self.shape):
            _fail(f"tensor of rank {len(self.shape)} indexed with "
                  f"{len(index)} positions")
        names = []
        for x in index:
            x = resolve(x)
            if isinstance(x, Sym):
                if x.type != "index":
                    _fail(f"a tensor index must be a position (index), got {x.type}")
                names.append(x.name)
            elif isinstance(x, (int, np.integer)):
                names.append(self.region.constant(int(x), "index").name)
            else:
                _fail(f"a tensor index must be a position or an int, got "
                      f"{type(x).__name__}")
        shape = "x".join("?" if not isinstance(d, int) else str(d) for d in self.shape)
        element = {"f32": "f32", "i32": "i32", "i1": "i1"}[self.dtype]
        value = self.region.emit(
            f"tensor.extract {self.name}[{', '.join(names)}] : "
            f"tensor<{shape}x{element}>", element)
        if element == "i32":
            return self.region.emit(f"arith.index_cast {value.name} : i32 to index", "index")
        return value


def _subscript(value, index):
    if isinstance(value, TensorView):
        return value[index]
    if isinstance(index, tuple):
        index = tuple(resolve(x) for x in index)
    else:
        index = resolve(index)
    return value[index]


# -- functions usable on symbolic values and NumPy arrays alike ---------------

def _any_sym(*xs):
    for x in xs:
        x = resolve(x)
        if isinstance(x, Sym):
            return x
    return None


def where(cond, a, b):
    """`a` where `cond` holds, else `b` (arith.select / np.where)."""
    sym = _any_sym(cond, a, b)
    if sym is None:
        return np.where(resolve(cond), resolve(a), resolve(b))
    c, a, b = sym._lift(cond), sym._lift(a), sym._lift(b)
    if c.type != "i1":
        _fail("the condition of attn.where must be a comparison")
    if a.type != b.type:
        if "i1" in (a.type, b.type):
            _fail(f"attn.where branches of types {a.type} and {b.type}")
        a, b = a._as("f32"), b._as("f32")
    return c.region.emit(f"arith.select {c.name}, {a.name}, {b.name} : {a.type}", a.type)


def _unary_math(op, numpy_fn):
    def fn(x):
        x = resolve(x)
        if not isinstance(x, Sym):
            return numpy_fn(x)
        x = x._as("f32")
        return x.region.emit(f"math.{op} {x.name} : f32", "f32")
    fn.__name__ = op
    fn.__doc__ = f"math.{op} (np.{numpy_fn.__name__} on arrays)."
    return fn


exp = _unary_math("exp", np.exp)
exp2 = _unary_math("exp2", np.exp2)
log = _unary_math("log", np.log)
log2 = _unary_math("log2", np.log2)
tanh = _unary_math("tanh", np.tanh)
sqrt = _unary_math("sqrt", np.sqrt)
floor = _unary_math("floor", np.floor)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return 1.0 / (1.0 + exp(-x))


def _extremum(int_op, float_op, numpy_fn):
    def fn(a, b):
        sym = _any_sym(a, b)
        if sym is None:
            return numpy_fn(resolve(a), resolve(b))
        a, b = sym._lift(a), sym._lift(b)
        if a.type == "index" and b.type == "index":
            return sym.region.emit(f"arith.{int_op} {a.name}, {b.name} : index", "index")
        a, b = a._as("f32"), b._as("f32")
        return sym.region.emit(f"arith.{float_op} {a.name}, {b.name} : f32", "f32")
    fn.__name__ = numpy_fn.__name__
    return fn


maximum = _extremum("maxsi", "maximumf", np.maximum)
minimum = _extremum("minsi", "minimumf", np.minimum)


def _binary_ufunc(op):
    return lambda a, b: getattr(_any_sym(a, b)._lift(a), op)(b)


_UFUNCS = {
    "exp": exp, "exp2": exp2, "log": log, "log2": log2, "tanh": tanh,
    "sqrt": sqrt, "floor": floor, "absolute": abs, "negative": lambda x: -x,
    "maximum": maximum, "minimum": minimum, "fmax": maximum, "fmin": minimum,
    "add": _binary_ufunc("__add__"), "subtract": _binary_ufunc("__sub__"),
    "multiply": _binary_ufunc("__mul__"),
    "true_divide": _binary_ufunc("__truediv__"),
    "floor_divide": _binary_ufunc("__floordiv__"),
    "remainder": _binary_ufunc("__mod__"),
    "less": _binary_ufunc("__lt__"), "less_equal": _binary_ufunc("__le__"),
    "greater": _binary_ufunc("__gt__"), "greater_equal": _binary_ufunc("__ge__"),
    "equal": _binary_ufunc("__eq__"), "not_equal": _binary_ufunc("__ne__"),
    "logical_and": _binary_ufunc("__and__"), "logical_or": _binary_ufunc("__or__"),
    "bitwise_and": _binary_ufunc("__and__"), "bitwise_or": _binary_ufunc("__or__"),
    "logical_not": lambda x: ~x, "invert": lambda x: ~x,
}


def trace(fn, params, captures, result_type, what):
    """Traces `fn` into a region body. `params` are (name, type) of the
    leading block arguments ((s,) b, h, i, j); `captures` are the spec's
    captured operands (name, operand, SSA block-argument name, MLIR type,
    shape, dtype). Returns the region's text lines, ending in attn.yield."""
    region = Region()
    args = [Sym(region, name, type_) for name, type_ in params]
    values = {}
    for operand, arg_name, shape, dtype in captures:
        if operand.is_tensor:
            values[operand.name] = TensorView(region, arg_name, shape, dtype)
        else:
            values[operand.name] = Sym(region, arg_name, "index" if dtype == "index" else "f32")
    with _Scope(values):
        try:
            result = fn(*args)
        except TraceError:
            raise
        except Exception as error:  # a bug in the user's function
            path, line = _innermost_user_line(error)
            hint = ""
            if isinstance(error, IndexError):
                hint = (" (a traced position cannot index a NumPy array or list; "
                        "pass the array as an attn.tensor operand and index that)")
            raise TraceError(f"{path}:{line}: tracing the {what} failed: "
                             f"{type(error).__name__}: {error}{hint}") from error
    where = _definition(fn)
    if not isinstance(result, Sym):
        if result_type == "i1" and isinstance(result, (bool, np.bool_)):
            result = region.constant(bool(result), "i1")
        elif result_type == "f32" and isinstance(result, (int, float, np.number)):
            result = region.constant(float(result), "f32")
        else:
            raise TraceError(f"{where}: the {what} returned {type(result).__name__}, "
                             f"expected a traced {result_type} value")
    if result_type == "i1" and result.type != "i1":
        raise TraceError(f"{where}: the {what} must return a condition (a comparison), "
                         f"got a {result.type} value")
    if result_type == "f32":
        result = result._as("f32")
    region.lines.append(f"    attn.yield {result.name} : {result_type}")
    return region.lines


def _definition(fn):
    """file:line where `fn` is defined."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return "<unknown>"
    return f"{code.co_filename}:{code.co_firstlineno}"


def _innermost_user_line(error):
    tb, found = error.__traceback__, ("<unknown>", 0)
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if not path.startswith(_PACKAGE + os.sep):
            found = (path, tb.tb_lineno)
        tb = tb.tb_next
    return found


def evaluate(fn, args, values):
    """Calls `fn` on NumPy arrays with the operands bound to `values`."""
    with _Scope(values):
        return fn(*args)
