"""Loading libchorus.so (the C ABI, capi/chorus.h) with ctypes.

The library is found through the CHORUS_LIBRARY environment variable (a path to the .so), else
next to this package (chorus_torch/libchorus.so). Build it from the repository root with

    go build -buildmode=c-shared -o python/chorus_torch/libchorus.so ./capi

It is loaded on first use, not on import, so that importing chorus_torch starts no Go runtime:
a process that imported chorus_torch may still fork. Once it is loaded, a forked child must not
call into it (the Go runtime does not survive fork()); calls from such a child raise
ChorusError at once instead of hanging.

Every call goes through ctypes.CDLL, which releases the GIL for the duration of the call.
"""

import ctypes
import os
import threading

# Result codes (chorusResult_t).
SUCCESS = 0
SYSTEM_ERROR = 2
INTERNAL_ERROR = 3
INVALID_ARGUMENT = 4
INVALID_USAGE = 5
REMOTE_ERROR = 6
IN_PROGRESS = 7
TIMEOUT = 8
MISMATCH = 9
ABORTED = 10
CLOSED = 11

# Element types (chorusDataType_t, NCCL's numbering).
INT8, UINT8, INT32, UINT32, INT64, UINT64, FLOAT16, FLOAT32, FLOAT64, BFLOAT16 = range(10)

# Reduction operators (chorusRedOp_t).
SUM, PROD, MAX, MIN, AVG = range(5)


class ChorusError(RuntimeError):
    """ChorusError is a failed call into Chorus: code is the chorusResult_t, the message the
    library's description (which names the rank waited for, when there was one)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _Config(ctypes.Structure):
    """_Config mirrors chorusConfig_t."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("timeout_ms", ctypes.c_int),
        ("init_timeout_ms", ctypes.c_int),
        ("prefix", ctypes.c_char_p),
        ("listen", ctypes.c_char_p),
        ("algorithms", ctypes.c_char_p),
    ]


_lock = threading.Lock()
_lib = None
_loaded_pid = None  # the process that loaded the library


def library_path():
    """library_path returns the path the library is loaded from."""
    path = os.environ.get("CHORUS_LIBRARY")
    if path:
        return path
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "libchorus.so")


def forked():
    """forked reports whether this process is a fork of one that loaded the library."""
    return _loaded_pid is not None and _loaded_pid != os.getpid()


def load():
    """load returns the library, loading it on first use."""
    global _lib, _loaded_pid
    if forked():
        raise ChorusError(
            INVALID_USAGE,
            "chorus: this process was forked from one that had loaded libchorus, and the Go "
            "runtime inside it does not survive fork(): start workers that need Chorus with the "
            "'spawn' start method, and keep forked workers (DataLoader) away from collectives",
        )
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            path = library_path()
            if not os.path.exists(path):
                raise ChorusError(
                    INVALID_USAGE,
                    f"chorus: the Chorus library is not at {path}: build it with "
                    "`go build -buildmode=c-shared -o python/chorus_torch/libchorus.so ./capi` "
                    "from the repository root, or point CHORUS_LIBRARY at it",
                )
            lib = ctypes.CDLL(path)
            _declare(lib)
            _lib = lib
            _loaded_pid = os.getpid()
    return _lib


def _declare(lib):
    P = ctypes.c_void_p
    I = ctypes.c_int
    S = ctypes.c_size_t
    R = ctypes.c_int
    s = ctypes.c_char_p
    pP = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "chorusGetVersion": [ctypes.POINTER(I)],
        "chorusMemAlloc": [pP, S],
        "chorusMemFree": [P],
        "chorusCommInitRankConfig": [pP, I, I, s, s, ctypes.POINTER(_Config)],
        "chorusCommInitFromEnv": [pP],
        "chorusCommDestroy": [P],
        "chorusCommAbortWithReason": [P, s],
        "chorusCommGetAsyncError": [P, ctypes.POINTER(I)],
        "chorusCommCount": [P, ctypes.POINTER(I)],
        "chorusCommUserRank": [P, ctypes.POINTER(I)],
        "chorusAllReduce": [P, P, S, I, I, P],
        "chorusBroadcast": [P, P, S, I, I, P],
        "chorusReduce": [P, P, S, I, I, I, P],
        "chorusAllGather": [P, P, S, I, P],
        "chorusReduceScatter": [P, P, S, I, I, P],
        "chorusAllToAll": [P, P, S, I, P],
        "chorusGather": [P, P, S, I, I, P],
        "chorusScatter": [P, P, S, I, I, P],
        "chorusBarrier": [P],
        "chorusAllReduceAsync": [P, P, S, I, I, P, pP],
        "chorusBroadcastAsync": [P, P, S, I, I, P, pP],
        "chorusReduceAsync": [P, P, S, I, I, I, P, pP],
        "chorusAllGatherAsync": [P, P, S, I, P, pP],
        "chorusReduceScatterAsync": [P, P, S, I, I, P, pP],
        "chorusAllToAllAsync": [P, P, S, I, P, pP],
        "chorusGatherAsync": [P, P, S, I, I, P, pP],
        "chorusScatterAsync": [P, P, S, I, I, P, pP],
        "chorusSendAsync": [P, S, I, I, P, pP],
        "chorusRecvAsync": [P, S, I, I, P, pP],
        "chorusBarrierAsync": [P, pP],
        "chorusWait": [P],
        "chorusWaitTimeout": [P, I],
        "chorusTest": [P, ctypes.POINTER(I)],
        "chorusRequestFree": [P],
        "chorusRendezvousServe": [s, s, pP],
        "chorusRendezvousURL": [P, ctypes.c_char_p, S],
        "chorusRendezvousStop": [P],
        "chorusStoreOpen": [s, s, I, pP],
        "chorusStoreSet": [P, s, P, S],
        "chorusStoreGet": [P, s, P, S, ctypes.POINTER(S), I],
        "chorusStoreAdd": [P, s, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64)],
        "chorusStoreWait": [P, ctypes.POINTER(ctypes.c_char_p), I, I],
        "chorusStoreCompareSet": [P, s, P, S, P, S, P, S, ctypes.POINTER(S)],
        "chorusStoreClose": [P],
    }
    for name, args in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = R
    lib.chorusGetLastError.argtypes = [P]
    lib.chorusGetLastError.restype = ctypes.c_char_p
    lib.chorusGetErrorString.argtypes = [I]
    lib.chorusGetErrorString.restype = ctypes.c_char_p


def error(code):
    """error returns the ChorusError of result code, with the calling thread's last error."""
    lib = load()
    msg = lib.chorusGetLastError(None) or b""
    if not msg:
        msg = lib.chorusGetErrorString(code) or b"unknown error"
    return ChorusError(code, msg.decode("utf-8", "replace"))


def check(code):
    """check raises the ChorusError of code unless it is SUCCESS. Call it on the thread that
    made the call: the message is per thread."""
    if code != SUCCESS:
        raise error(code)


def version():
    """version returns the library's version code (major*10000 + minor*100 + patch)."""
    v = ctypes.c_int()
    check(load().chorusGetVersion(ctypes.byref(v)))
    return v.value


def config(timeout_ms=0, init_timeout_ms=0, prefix=None, listen=None, algorithms=None):
    """config returns a chorusConfig_t."""
    enc = lambda v: v.encode() if isinstance(v, str) else v
    return _Config(ctypes.sizeof(_Config), int(timeout_ms), int(init_timeout_ms), enc(prefix),
                   enc(listen), enc(algorithms))
