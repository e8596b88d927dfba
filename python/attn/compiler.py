"""Compiles spec modules through libAttnCAPI.so, with an on-disk cache.

The library (include/attn-c/Compiler.h) is found through $ATTN_CAPI_LIBRARY
or at build/lib/libAttnCAPI.so next to this package's checkout; it is
loaded only on a cache miss, so machines without LLVM/MLIR (the GPU
machine) run kernels compiled elsewhere from a copied cache.

Cache entries live in $ATTN_CACHE_DIR (default ~/.cache/attn-mlir), one
directory per key: the SHA-256 of the spec text, the target, the options
and the compiler's identity (its version and the size and modification
time of the library, or $ATTN_COMPILER_ID). An entry is written to a
temporary directory and renamed into place, so readers never see half of
one.
"""

import ctypes
import hashlib
import json
import os
import re
import shutil
import tempfile

IR_NAME = "<generated IR>"
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_library = None


class CompileError(RuntimeError):
    """The compiler rejected a spec. `diagnostics` is the full text;
    `locations` the (file, line, column, severity, message) of each."""

    def __init__(self, diagnostics, where=None):
        if where is not None and IR_NAME in diagnostics:
            # Located in the generated IR (attribute parameters): say which
            # Python spec it was generated from.
            diagnostics = f"{where[0]}:{where[1]}: in the spec built here:\n{diagnostics}"
        self.diagnostics = diagnostics
        self.locations = [
            (m.group(1), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5))
            for m in re.finditer(r"^(.*?):(\d+):(\d+): (error|warning|note|remark): (.*)$",
                                 diagnostics, re.M)]
        super().__init__(diagnostics.strip())


def library_path():
    return os.environ.get("ATTN_CAPI_LIBRARY") or os.path.join(
        _ROOT, "build", "lib", "libAttnCAPI.so")


def _load():
    global _library
    if _library is None:
        path = library_path()
        if not os.path.exists(path):
            raise CompileError(f"error: the attn compiler library {path} does not exist "
                               f"(build it with `ninja -C build AttnCAPI`, or set "
                               f"ATTN_CAPI_LIBRARY); only cached kernels can be used")
        lib = ctypes.CDLL(path)
        lib.attnCompile.argtypes = [ctypes.c_char_p] * 5 + [ctypes.POINTER(ctypes.c_void_p)]
        lib.attnCompile.restype = ctypes.c_int
        lib.attnVerify.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                   ctypes.POINTER(ctypes.c_void_p)]
        lib.attnCompilerVersion.restype = ctypes.c_char_p
        lib.attnFreeString.argtypes = [ctypes.c_void_p]
        _library = lib
    return _library


def compiler_id():
    """What the cache keys on for the compiler itself."""
    if os.environ.get("ATTN_COMPILER_ID"):
        return os.environ["ATTN_COMPILER_ID"]
    path = library_path()
    try:
        stat = os.stat(path)
    except OSError:
        raise CompileError(f"error: no compiler ({path} is missing) and no "
                           f"ATTN_COMPILER_ID to find cached kernels by") from None
    return f"{os.path.basename(path)}:{stat.st_size}:{stat.st_mtime_ns}"


def version():
    """The compiler's version string."""
    return _load().attnCompilerVersion().decode()


def cache_dir():
    return os.environ.get("ATTN_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "attn-mlir")


def _call(fn, *args):
    diagnostics = ctypes.c_void_p()
    status = fn(*args, ctypes.byref(diagnostics))
    text = ""
    if diagnostics.value:
        text = ctypes.string_at(diagnostics.value).decode(errors="replace")
        _load().attnFreeString(diagnostics)
    return status, text


def verify(text, source_name="<spec>"):
    """Parses and verifies `text`; raises CompileError with the diagnostics."""
    status, diagnostics = _call(_load().attnVerify, text.encode(), source_name.encode())
    if status:
        raise CompileError(diagnostics)


# Source locations (`loc("file.py":12:1)`) only name where a spec was
# written; the kernels do not depend on them, so a project moved or copied
# elsewhere (the GPU machine's bundle) keeps finding its kernels.
_LOCATION = re.compile(r'\s*loc\("(?:[^"\\]|\\.)*"(?::\d+)*\)')


def key(text, target, options):
    text = _LOCATION.sub("", text)
    blob = json.dumps([text, target, options, compiler_id()], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def compile_module(text, target, options="", where=None, use_cache=True):
    """Compiles a spec module; returns (entry directory, cache hit). The
    directory holds kernel.so / kernel.cubin / kernel.ptx and
    kernel.manifest (and kernel.ll for the CPU). `where` is the (file,
    line) of the Python spec, for errors located in the generated IR."""
    entry = os.path.join(cache_dir(), key(text, target, options))
    if use_cache and os.path.exists(os.path.join(entry, "kernel.manifest")):
        return entry, True
    os.makedirs(cache_dir(), exist_ok=True)
    work = tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir())
    try:
        with open(os.path.join(work, "spec.mlir"), "w") as f:
            f.write(text)
        status, diagnostics = _call(_load().attnCompile, text.encode(),
                                    IR_NAME.encode(), target.encode(),
                                    options.encode(), work.encode())
        if status:
            raise CompileError(diagnostics or "error: compilation failed", where)
        if not use_cache:
            return work, False
        try:
            os.rename(work, entry)
        except OSError:  # another process made it first: use theirs
            shutil.rmtree(work, ignore_errors=True)
        return entry, False
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
