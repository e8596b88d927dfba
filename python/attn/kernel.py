"""Compiled kernels callable from NumPy (CPU) and PyTorch (GPU).

    kernel = attn.compile(spec, target="cpu", dtype="bf16", head_dim=64)
    o, lse = kernel(q, k, v, window=256)

`compile` returns at once when the element type or head dims are left to
the first call (a kernel is then compiled per (dtype, D, Dv) it sees);
batch, heads and lengths are dynamic, so other shapes and other operand
values reuse the same kernel. Every call checks its inputs against the
spec before any kernel runs: ranks, the shared dimension names (B, Hq,
Sq, ...), element types, GQA divisibility, index operands inside their
ranges; errors are TypeError/ValueError naming the argument.

NumPy has no bf16: bf16 kernels take float arrays (rounded to nearest
even) or uint16 arrays of raw bf16 bits, and return float32 (exact).
"""

import concurrent.futures
import ctypes
import os
import time

import numpy as np

from attn import bf16, compiler, spec as spec_module

_NUMPY = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16,
          "i32": np.int32, "i8": np.int8, "i1": np.bool_}
_pool = None


def _executor():
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    return _pool


def compile(spec, target="cpu", dtype=None, head_dim=None, value_dim=None,
            heads=None, kv_heads=None, out_dtype=None, q_tile=None, k_tile=None,
            cpu=None, mma=None, cache=True, threads=None):  # noqa: A001
    """A kernel for `spec` on `target` ("cpu", "sm_80", "sm_90a", ...).

    dtype (f32, f16, bf16), head_dim and value_dim (default head_dim) are
    taken from the first call when not given; heads / kv_heads make the
    head counts static. out_dtype defaults to dtype. q_tile, k_tile, cpu
    (an LLVM CPU name) and mma (GPU tensor cores) override the compiler's
    choices; threads is the CPU default thread count (all cores)."""
    if not isinstance(spec, (spec_module.Spec, spec_module.LinearSpec)):
        raise TypeError(f"expected an attn.Spec or attn.LinearSpec, got {type(spec).__name__}")
    options = []
    for key, value in (("q-tile", q_tile), ("k-tile", k_tile)):
        if value is not None:
            options.append(f"{key}={int(value)}")
    if cpu is not None:
        if target != "cpu":
            raise ValueError("cpu= applies to target='cpu'")
        options.append(f"cpu={cpu}")
    if mma is not None:
        if target == "cpu":
            raise ValueError("mma= applies to GPU targets")
        options.append(f"mma={int(bool(mma))}")
    kernel = Kernel(spec, target, " ".join(options), heads, kv_heads, out_dtype, cache, threads)
    kernel._fixed = (dtype, head_dim, value_dim or head_dim)
    if dtype is not None and head_dim is not None:
        kernel.variant(dtype, head_dim, value_dim or head_dim)
    return kernel


class Kernel:
    """A spec compiled for one target; callable."""

    def __init__(self, spec, target, options, heads, kv_heads, out_dtype, cache, threads):
        self.spec, self.target, self.options = spec, target, options
        self.heads, self.kv_heads, self.out_dtype = heads, kv_heads, out_dtype
        self.cache, self.threads = cache, threads
        self._variants = {}
        self._fixed = (None, None, None)
        self.last_compile = None  # (seconds, cache hit) of the latest variant

    def variant(self, dtype, head_dim, value_dim):
        """The compiled module for (dtype, D, Dv), compiled on first use."""
        key = (dtype, head_dim, value_dim)
        if key not in self._variants:
            start = time.perf_counter()
            text = self.spec.to_mlir(dtype, head_dim, value_dim, self.heads,
                                     self.kv_heads, self.out_dtype)
            options = self.options
            if self.spec.has_selections:
                if self.target != "cpu":
                    raise NotImplementedError(
                        "specs with selection ops run on the CPU from Python so far "
                        "(on the GPU they compile as programs of static shapes: "
                        "attn-translate --emit=cubin on the spec function)")
                options = (options + " abi=tensor").strip()
            entry, hit = compiler.compile_module(text, self.target, options,
                                                 self.spec.where, self.cache)
            args = self.spec.arguments(dtype, self.out_dtype)
            fixed = spec_module._fixed_dims(head_dim, value_dim, self.heads, self.kv_heads)
            if self.target == "cpu" and self.spec.has_selections:
                module = _CpuTensorModule(entry, self.spec.name, args, fixed)
            elif self.target == "cpu":
                module = _CpuModule(entry, self.spec.name, args, fixed)
            else:
                module = _GpuModule(entry, self.spec.name, args, fixed)
            self._variants[key] = module
            self.last_compile = (time.perf_counter() - start, hit)
        return self._variants[key]

    def _module(self):
        if len(self._variants) != 1:
            raise RuntimeError("the kernel is compiled per (dtype, head_dim); call it "
                               "once, or pass dtype= and head_dim= to attn.compile")
        return next(iter(self._variants.values()))

    @property
    def mlir(self):
        """The spec function that was compiled."""
        return self._module().read("spec.mlir")

    @property
    def llvm_ir(self):
        """The optimized LLVM IR (CPU kernels)."""
        if self.target != "cpu":
            raise AttributeError("llvm_ir is for CPU kernels; GPU kernels have .ptx")
        return self._artifact("kernel.ll", "emit-ir=1")

    @property
    def ptx(self):
        """The PTX (GPU kernels)."""
        if self.target == "cpu":
            raise AttributeError("ptx is for GPU kernels; CPU kernels have .llvm_ir")
        return self._artifact("kernel.ptx", "binary=0")

    def _artifact(self, name, option):
        """A file of the compiled variant; kernels are compiled without the
        ones they do not need (LLVM IR, PTX next to a cubin), so ask the
        compiler again with `option` (cached too)."""
        module = self._module()
        path = os.path.join(module.entry, name)
        if not os.path.exists(path):
            text = self.spec.to_mlir(*self._key_of(module), self.heads, self.kv_heads,
                                     self.out_dtype)
            entry, _ = compiler.compile_module(text, self.target,
                                               (self.options + " " + option).strip(),
                                               self.spec.where, self.cache)
            path = os.path.join(entry, name)
        with open(path) as f:
            return f.read()

    def _key_of(self, module):
        for key, value in self._variants.items():
            if value is module:
                return key
        raise KeyError(module)

    def __call__(self, q, k, v, threads=None, stream=None, **operands):
        dtype, head_dim, value_dim = self._fixed
        dtype = dtype or _dtype_of(q)
        module = self.variant(dtype, head_dim or _last(q, "q"), value_dim or _last(v, "v"))
        values = spec_module._with_defaults(self.spec.operands(), operands)
        values.update(q=q, k=k, v=v)
        bindings = _Bindings(module.fixed)
        for arg in module.args:
            if not arg.output and arg.kind == "buffer":
                bindings.bind(arg, tuple(getattr(values[arg.name], "shape", np.shape(values[arg.name]))))
        _check_relations(bindings)
        _check_values(self.spec, bindings, values)
        if self.target == "cpu":
            return module.run(values, bindings, threads or self.threads)
        return module.run(values, stream)


def _last(x, what):
    shape = getattr(x, "shape", None)
    if not shape:
        raise TypeError(f"{what}: expected an array or tensor, got {type(x).__name__}")
    return int(shape[-1])


def _dtype_of(q):
    name = str(getattr(q, "dtype", "")).split(".")[-1]
    dtype = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}.get(name)
    if dtype is None:
        raise TypeError(f"q: cannot infer the element type from dtype {name or type(q).__name__}; "
                        f"pass dtype= to attn.compile (bf16 from NumPy: uint16 bits or floats)")
    return dtype


# -- checks shared by both targets ---------------------------------------------

class _Bindings:
    """Sizes of the named dimensions, bound from the arguments in order."""

    def __init__(self, fixed):
        self.sizes = dict(fixed)
        self.origin = {name: "compiled kernel" for name in fixed}

    def bind(self, arg, shape):
        if len(shape) != len(arg.dims):
            raise ValueError(f"{arg.name}: expected rank {len(arg.dims)} "
                             f"({' x '.join(map(str, arg.dims))}), got shape {tuple(shape)}")
        for axis, (dim, size) in enumerate(zip(arg.dims, shape)):
            size = int(size)
            if isinstance(dim, int):
                if size != dim:
                    raise ValueError(f"{arg.name}: dimension {axis} must be {dim}, got {size}")
                continue
            if dim not in self.sizes:
                self.sizes[dim], self.origin[dim] = size, arg.name
            elif self.sizes[dim] != size:
                raise ValueError(f"{arg.name}: dimension {axis} ({dim}) is {size} but "
                                 f"{self.origin[dim]} has {dim} = {self.sizes[dim]}")
        if int(np.prod([int(x) for x in shape], dtype=object)) >= 2 ** 63:
            raise ValueError(f"{arg.name}: {tuple(shape)} has 2^63 elements or more")


def _check_relations(bindings):
    s = bindings.sizes
    if "Hq" in s and "Hkv" in s and (s["Hkv"] == 0 or s["Hq"] % s["Hkv"]):
        raise ValueError(f"k: {s['Hkv']} key heads do not divide {s['Hq']} query heads (GQA)")
    if "G" in s and "Hq" in s and (s["G"] == 0 or s["Hq"] % s["G"]):
        raise ValueError(f"{bindings.origin['G']}: {s['G']} head groups do not divide "
                         f"{s['Hq']} query heads")
    if "B1" in s and "B" not in s:
        s["B"] = s["B1"] - 1


def _check_query_blocks(part, sizes):
    """A per-query-block operand of `part` has ceil(Sq / q_block) rows or 1."""
    q_block = dict(part.params)["q_block"]
    query_blocks = -(-sizes["Sq"] // q_block)
    if sizes.get("QB") not in (1, query_blocks):
        raise ValueError(f"{part.inputs[0].name}: expected {query_blocks} query "
                         f"blocks (ceil(Sq / {q_block})) or 1, got {sizes.get('QB')}")


def _check_values(spec, bindings, values):
    """Range checks of index operands the kernels read without checks."""
    s = bindings.sizes
    for part in _attrs(spec):
        name = part.name
        if name in ("window", "key_prefix", "query_prefix", "dilated", "causal"):
            for key, value in part.params:
                if isinstance(value, spec_module.Operand) and key != "offset":
                    x = values[value.name]
                    low = 1 if key == "dilation" else 0
                    if _minimum(x) < low:
                        raise ValueError(f"{value.name}: {name} {key} must be >= {low}, "
                                         f"got {_minimum(x)}")
        if name in ("tokens", "blocks"):
            if any(u.name not in values for u in part.inputs):
                continue  # produced by a selection op in the kernel
            counts, indices = (values[u.name] for u in part.inputs)
            # Keys: Sk, or the page table's capacity (paged KV).
            limit = s["Sk"] if "Sk" in s else s.get("N", 0) * s.get("Page", 0)
            if name == "blocks":
                _check_query_blocks(part, s)
                limit = -(-limit // dict(part.params)["k_block"])
            _check_selection(part.inputs[0].name, part.inputs[1].name, counts, indices, limit)
        if name == "pyramid" and part.inputs[0].name in values:
            _check_query_blocks(part, s)
        if name in ("softcap",):
            for key, value in part.params:
                if isinstance(value, spec_module.Operand) and not float(values[value.name]) > 0:
                    raise ValueError(f"{value.name}: softcap must be positive")
    if spec.layout[1] == "paged":
        table, lens = (np.asarray(_host(values[n])) for n in ("block_table", "kv_lens"))
        if table.size and (table.min() < 0 or table.max() >= s["P"]):
            raise ValueError(f"block_table: pages must be in [0, {s['P']}) (the pool's "
                             f"pages), got {table.min()}..{table.max()}")
        capacity = s["N"] * s["Page"]
        if lens.size and (lens.min() < 0 or lens.max() > capacity):
            raise ValueError(f"kv_lens: lengths must be in [0, {capacity}] (N * page), got "
                             f"{lens.min()}..{lens.max()}")
    if spec.layout[0] == "thd":
        for which, total in (("cu_seqlens_q", s.get("Tq")), ("cu_seqlens_kv", s.get("Tk"))):
            cu = np.asarray(_host(values[which]))
            if cu[0] != 0 or np.any(np.diff(cu) < 0) or cu[-1] != total:
                raise ValueError(f"{which}: expected non-decreasing offsets from 0 to {total}, "
                                 f"got {cu.tolist()}")


def _check_selection(counts_name, indices_name, counts, indices, limit):
    """Counts within the lists, listed entries in [0, limit) and distinct
    within each list (kernels iterate over the list: a repeated entry
    would count twice)."""
    counts = np.asarray(_host(counts)).astype(np.int64)
    indices = np.asarray(_host(indices)).astype(np.int64)
    _in_range(counts_name, counts, 0, indices.shape[-1])
    listed = np.arange(indices.shape[-1]) < counts[..., None]
    _in_range(indices_name, indices[listed], 0, limit - 1)
    # Unlisted slots get distinct values past the limit, then sort.
    spare = limit + np.arange(indices.shape[-1])
    ordered = np.sort(np.where(listed, indices, spare), axis=-1)
    repeated = np.argwhere(ordered[..., 1:] == ordered[..., :-1])
    if repeated.size:
        at = tuple(repeated[0][:-1])
        raise ValueError(f"{indices_name}: the list at {at} repeats an entry "
                         f"(listed entries must be distinct)")


def _attrs(spec):
    if not hasattr(spec, "_groups"):
        return []
    return [a for _, parts in spec._groups() for p in parts for a in p.walk()]


def _host(x):
    return x.cpu().numpy() if hasattr(x, "cpu") and not isinstance(x, np.ndarray) else x


def _minimum(x):
    x = _host(x)
    return np.min(x) if np.size(x) else 0


def _in_range(name, x, low, high):
    x = np.asarray(_host(x))
    if x.size and (x.min() < low or x.max() > high):
        raise ValueError(f"{name}: values must lie in [{low}, {high}], got "
                         f"[{x.min()}, {x.max()}]")


# -- CPU ---------------------------------------------------------------------------

def _memref_type(rank, cache={}):
    if rank not in cache:
        n = max(rank, 1)
        cache[rank] = type(f"Memref{rank}d", (ctypes.Structure,), {"_fields_": [
            ("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
            ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * n),
            ("strides", ctypes.c_int64 * n)]})
    return cache[rank]


def _c_array(x, dtype):
    """`x` as a row-major, naturally aligned array of `dtype` (a copy only
    when needed): the kernels' vector loads assume both."""
    return np.require(x, dtype, ["C_CONTIGUOUS", "ALIGNED"])


def _convert_float(name, x, element):
    x = np.asarray(x)
    if element == "bf16":
        if x.dtype == np.uint16:
            return _c_array(x, np.uint16)
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected floats or uint16 bf16 bits, got {x.dtype}")
        return bf16.to_bits(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float array for a {element} kernel, got {x.dtype}")
    return _c_array(x, _NUMPY[element])


def _convert_input(arg, values):
    """The kernel's form of input `arg` from the call's values."""
    if arg.role in ("q", "k", "v"):
        return _convert_float(arg.name, values[arg.name], arg.element)
    return _convert_operand(arg, values[arg.name])


def _descriptor(x):
    """The strided memref descriptor of array `x` (which must outlive it)."""
    memref = _memref_type(x.ndim)()
    memref.allocated = memref.aligned = x.ctypes.data
    memref.offset = 0
    for d in range(x.ndim):
        memref.sizes[d] = x.shape[d]
        memref.strides[d] = x.strides[d] // x.itemsize
    return memref


def _convert_operand(arg, x):
    if arg.kind == "scalar":
        if np.ndim(x) != 0:
            raise TypeError(f"{arg.name}: expected a scalar, got shape {np.shape(x)}")
        if arg.element == "index":
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
                raise TypeError(f"{arg.name}: expected an int, got {type(x).__name__}")
            return int(x)
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.number)):
            raise TypeError(f"{arg.name}: expected a float, got {type(x).__name__}")
        if not np.isfinite(float(x)):
            raise ValueError(f"{arg.name}: expected a finite float, got {x}")
        return float(x)
    x = np.asarray(x)
    if arg.element == "i1":
        if x.dtype != np.bool_:
            raise TypeError(f"{arg.name}: expected a bool array, got {x.dtype}")
    elif arg.element in ("i32", "i8"):
        bits = int(arg.element[1:])
        if x.dtype.kind not in "iu":
            raise TypeError(f"{arg.name}: expected an integer array, got {x.dtype}")
        if x.size and (x.min() < -2 ** (bits - 1) or x.max() >= 2 ** (bits - 1)):
            raise ValueError(f"{arg.name}: values do not fit in int{bits}")
    elif x.dtype.kind not in "fiu" or x.dtype == np.bool_:
        raise TypeError(f"{arg.name}: expected a float array, got {x.dtype}")
    return _c_array(x, _NUMPY[arg.element])


class _CpuModule:
    """kernel.so of one variant and its entry point."""

    def __init__(self, entry, name, args, fixed):
        self.entry, self.args, self.fixed = entry, args, fixed
        signature = _read_signature(os.path.join(entry, "kernel.manifest"), name)
        if [role for role, *_ in signature] != [a.role for a in args]:
            raise RuntimeError(f"the compiled kernel's arguments {signature} do not "
                               f"match the spec's {[a.role for a in args]}")
        self.library = ctypes.CDLL(os.path.join(entry, "kernel.so"))
        self.function = getattr(self.library, f"_mlir_ciface_{name}")
        argtypes = []
        for arg in args:
            if arg.kind == "buffer":
                argtypes.append(ctypes.POINTER(_memref_type(len(arg.dims))))
            else:
                argtypes.append({"index": ctypes.c_int64, "f32": ctypes.c_float}[arg.element])
        self.function.argtypes = argtypes + [ctypes.c_int64, ctypes.c_int64]
        self.function.restype = None

    def read(self, name):
        with open(os.path.join(self.entry, name)) as f:
            return f.read()

    def run(self, values, bindings, threads):
        arrays = []
        for arg in self.args:
            if arg.output:
                shape = tuple(bindings.sizes[d] if not isinstance(d, int) else d for d in arg.dims)
                arrays.append(np.empty(shape, _NUMPY[arg.element]))
            else:
                arrays.append(_convert_input(arg, values))
        keep = [_descriptor(x) if arg.kind == "buffer" else x
                for arg, x in zip(self.args, arrays)]
        c_args = [ctypes.byref(x) if arg.kind == "buffer" else x
                  for arg, x in zip(self.args, keep)]
        threads = max(1, int(threads or os.cpu_count() or 1))
        if threads == 1:
            self.function(*c_args, 0, 1)
        else:
            futures = [_executor().submit(self.function, *c_args, t, threads)
                       for t in range(1, threads)]
            self.function(*c_args, 0, threads)
            for f in futures:
                f.result()
        results = [_from_kernel(x, arg.element) for arg, x in zip(self.args, arrays)
                   if arg.output]
        return results[0] if len(results) == 1 else tuple(results)


class _CpuTensorModule(_CpuModule):
    """kernel.so of a spec function with selection ops: the tensor ABI
    (MLIR's C interface: a pointer to the results, then the arguments;
    results are buffers the kernel allocated, copied out and freed here).
    One thread."""

    _libc = None

    def __init__(self, entry, name, args, fixed):
        self.entry, self.args, self.fixed = entry, args, fixed
        self.library = ctypes.CDLL(os.path.join(entry, "kernel.so"))
        self.function = getattr(self.library, f"_mlir_ciface_{name}")
        outputs = [a for a in args if a.output]
        self.results = type("Results", (ctypes.Structure,), {"_fields_": [
            (a.role, _memref_type(len(a.dims))) for a in outputs]})
        argtypes = [ctypes.POINTER(self.results)]
        for arg in args:
            if arg.output:
                continue
            argtypes.append(ctypes.POINTER(_memref_type(len(arg.dims))) if arg.kind == "buffer"
                            else {"index": ctypes.c_int64, "f32": ctypes.c_float}[arg.element])
        self.function.argtypes = argtypes
        self.function.restype = None
        if _CpuTensorModule._libc is None:
            _CpuTensorModule._libc = ctypes.CDLL(None)
            _CpuTensorModule._libc.free.argtypes = [ctypes.c_void_p]

    def run(self, values, bindings, threads):
        arrays = [_convert_input(arg, values) for arg in self.args if not arg.output]
        inputs = [arg for arg in self.args if not arg.output]
        keep = [_descriptor(x) if arg.kind == "buffer" else x
                for arg, x in zip(inputs, arrays)]
        c_args = [ctypes.byref(x) if arg.kind == "buffer" else x
                  for arg, x in zip(inputs, keep)]
        results = self.results()
        self.function(ctypes.byref(results), *c_args)
        outputs = []
        for arg in [a for a in self.args if a.output]:
            memref = getattr(results, arg.role)
            shape = tuple(memref.sizes[d] for d in range(len(arg.dims)))
            dtype = np.dtype(_NUMPY[arg.element])
            count = int(np.prod(shape, dtype=np.int64))
            base = (memref.aligned or 0) + memref.offset * dtype.itemsize
            buffer = (ctypes.c_char * (count * dtype.itemsize)).from_address(base)
            array = np.frombuffer(buffer, dtype, count).reshape(shape).copy()
            self._libc.free(memref.allocated)
            outputs.append(_from_kernel(array, arg.element))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _from_kernel(x, element):
    return bf16.from_bits(x) if element == "bf16" else x


def _read_signature(path, name):
    from attn.gpu import _read_manifest
    signatures, _ = _read_manifest(path)
    if name not in signatures:
        raise RuntimeError(f"{path}: no kernel {name}")
    return signatures[name]


# -- GPU -----------------------------------------------------------------------------

class _GpuModule:
    """kernel.cubin (or .ptx) of one variant, launched through attnrt."""

    def __init__(self, entry, name, args, fixed):
        from attn import gpu
        self.entry, self.name, self.args, self.fixed = entry, name, args, fixed
        binary = os.path.join(entry, "kernel.cubin")
        if not os.path.exists(binary):
            binary = os.path.join(entry, "kernel.ptx")
        self.module = gpu.Module(binary, os.path.join(entry, "kernel.manifest"))

    def read(self, name):
        with open(os.path.join(self.entry, name)) as f:
            return f.read()

    def run(self, values, stream):
        import torch
        q = values["q"]
        if not (isinstance(q, torch.Tensor) and q.is_cuda):
            raise TypeError(f"q: a GPU kernel takes torch CUDA tensors, got "
                            f"{type(q).__name__}" + ("" if not isinstance(q, torch.Tensor)
                                                     else f" on {q.device}"))
        roles = {}
        for arg in self.args:
            if arg.output:
                continue
            value = values[arg.name]
            if arg.kind == "buffer":
                value = _on_device(value, q.device)
            roles[arg.role] = value
        return self.module.run(self.name, stream=stream, **roles)


def _on_device(x, device):
    """A contiguous tensor on `device`: NumPy arrays (captured constants,
    runtime operands given from the host) and tensors elsewhere are copied
    there, strided views are made contiguous (as the CPU path copies strided
    arrays); tensors already in place pass through untouched."""
    import torch
    if not isinstance(x, torch.Tensor):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if x.device != device:
        x = x.to(device)
    return x if x.is_contiguous() else x.contiguous()
