"""The torch.distributed backend "chorus": a ProcessGroup over libchorus.so.

Every collective is started through the C ABI's asynchronous calls and returns a Work made from
a torch Future; a completion thread per communicator waits for the requests (collectives finish
in issue order) and completes the futures; each send or receive gets a thread of its own (they
finish in any order). The tensors an operation uses are referenced until it has finished.
"""

import atexit
import ctypes
import datetime
import os
import queue
import secrets
import socket
import sys
import threading
import weakref

import torch
import torch.distributed as dist
from torch._C._distributed_c10d import Work as _TorchWork
from torch._C._distributed_c10d import _create_work_from_future

from . import _lib, _sigint
from ._lib import ChorusError
from .store import Server

# The key, in the store torch gives the backend, where rank 0 publishes "URL SECRET".
RENDEZVOUS_KEY = "chorus/rendezvous"

# How long one wait inside a Python call lasts before Python gets control back (Ctrl-C).
_SLICE_MS = 200

_SIZE = {
    _lib.INT8: 1, _lib.UINT8: 1, _lib.INT32: 4, _lib.UINT32: 4, _lib.INT64: 8, _lib.UINT64: 8,
    _lib.FLOAT16: 2, _lib.FLOAT32: 4, _lib.FLOAT64: 8, _lib.BFLOAT16: 2,
}

# torch dtypes that are Chorus element types: they move and reduce as themselves.
NATIVE = {
    torch.int8: _lib.INT8,
    torch.uint8: _lib.UINT8,
    torch.int32: _lib.INT32,
    torch.int64: _lib.INT64,
    torch.float16: _lib.FLOAT16,
    torch.bfloat16: _lib.BFLOAT16,
    torch.float32: _lib.FLOAT32,
    torch.float64: _lib.FLOAT64,
}
for _name, _code in (("uint32", _lib.UINT32), ("uint64", _lib.UINT64)):  # torch >= 2.3
    if hasattr(torch, _name):
        NATIVE[getattr(torch, _name)] = _code

# Complex tensors reduce as pairs of reals, for the operators that act on each part alone.
COMPLEX = {torch.complex64: _lib.FLOAT32, torch.complex128: _lib.FLOAT64}

_OPS = {"SUM": _lib.SUM, "PRODUCT": _lib.PROD, "MAX": _lib.MAX, "MIN": _lib.MIN, "AVG": _lib.AVG}
# On bool tensors (0 or 1), logical or is MAX and logical and is MIN, as NCCL maps them.
_BOOL_OPS = {"SUM": _lib.MAX, "MAX": _lib.MAX, "BOR": _lib.MAX, "PRODUCT": _lib.MIN, "MIN": _lib.MIN,
             "BAND": _lib.MIN}


def _op_name(op):
    for name in ("SUM", "PRODUCT", "MAX", "MIN", "AVG", "BAND", "BOR", "BXOR", "PREMUL_SUM"):
        member = getattr(dist.ReduceOp, name, None)
        if member is not None and op == member:
            return name
    return str(op)


def _invalid(msg):
    return ChorusError(_lib.INVALID_ARGUMENT, "chorus: " + msg)


def _check_tensor(t, what):
    if not isinstance(t, torch.Tensor):
        raise _invalid(f"{what}: expected a tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise _invalid(f"{what}: only CPU tensors are supported, got a tensor on {t.device}")
    if t.layout != torch.strided:
        raise _invalid(f"{what}: only dense tensors are supported, got layout {t.layout}")


def _move_type(t):
    """_move_type returns the element type a tensor moves as (any dtype moves: as itself, or as
    bytes)."""
    code = NATIVE.get(t.dtype)
    if code is not None:
        return code
    return _lib.UINT8  # bool, int16, float8, complex, ...: the bytes


def _reduce_type(t, op, what):
    """_reduce_type returns (element type, operator) for reducing tensor t with op."""
    name = _op_name(op)
    if t.dtype == torch.bool:
        code = _BOOL_OPS.get(name)
        if code is None:
            raise _invalid(f"{what}: {name} is not supported on bool tensors (SUM/MAX/BOR act as "
                           "logical or, PRODUCT/MIN/BAND as logical and)")
        return _lib.UINT8, code
    code = _OPS.get(name)
    if code is None:
        raise _invalid(f"{what}: reduce op {name} is not supported (SUM, PRODUCT, MAX, MIN, AVG are; "
                       "BAND and BOR on bool tensors)")
    if t.dtype in NATIVE:
        return NATIVE[t.dtype], code
    if t.dtype in COMPLEX and name in ("SUM", "AVG"):
        return COMPLEX[t.dtype], code
    raise _invalid(f"{what}: {t.dtype} cannot be reduced with {name}: reductions support "
                   + ", ".join(str(d) for d in NATIVE)
                   + ", torch.bool, and torch.complex64/complex128 with SUM or AVG")


def _ptr(t):
    return t.data_ptr() if t.numel() > 0 else None


def _count(t, code):
    return t.numel() * t.element_size() // _SIZE[code]


def _dense(t):
    """_dense returns a contiguous tensor with t's values: t itself when it is contiguous."""
    return t if t.is_contiguous() else t.contiguous()


def _one(tensors, what):
    if len(tensors) != 1:
        raise _invalid(f"{what}: one tensor per call (got {len(tensors)}); multi-device lists are not supported")
    _check_tensor(tensors[0], what)
    return tensors[0]


class Work(_TorchWork):
    """Work is the handle of an operation for Python callers: unlike torch's Work made from a
    future, whose wait() returns True even when the operation failed, its wait() raises the
    operation's error. Waiting is interruptible (Ctrl-C raises KeyboardInterrupt at once)."""

    def __init__(self, fut):
        super().__init__()
        self._fut = fut

    def wait(self, timeout=None):
        done = threading.Event()
        self._fut.add_done_callback(lambda _: done.set())
        seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else timeout
        if seconds is not None and seconds <= 0:
            seconds = None  # torch's "no timeout"
        if not done.wait(seconds):
            raise ChorusError(_lib.TIMEOUT, f"chorus: the operation did not finish within {timeout}")
        self._fut.wait()  # raises the operation's error
        return True

    def get_future(self):
        return self._fut

    def is_completed(self):
        return self._fut.done()

    def is_success(self):
        if not self._fut.done():
            return False
        try:
            self._fut.value()
        except Exception:
            return False
        return True

    def exception(self):
        if not self._fut.done():
            return None
        try:
            self._fut.value()
        except Exception as e:
            return e
        return None

    def result(self):
        return self._fut.value()

    def synchronize(self):
        pass


# Modules whose functions hand the Work they get to Python code (dist.all_reduce and the like).
_PYTHON_CALLERS = ("torch.distributed.distributed_c10d",)


def _work_for_caller(fut):
    """_work_for_caller returns the Work of fut for whoever called the process group's method:
    a Work whose wait() raises for torch.distributed's Python functions, and torch's own Work
    made from the future for C++ callers (DDP's reducer), which use the future's value (that
    raises) and cannot use a Work written in Python on torch 1.13."""
    if _python_caller() is not None:
        return Work(fut)
    # A future failed with set_exception is, to C++, a success whose value is the exception
    # object (torch raises it only in Python); a future chained with then() whose callback
    # raises is a real C++ error, which DDP's reducer raises instead of reading tensors from it.
    return _create_work_from_future(fut.then(_value))


def _caller_waits():
    """_caller_waits reports whether the process group's method was called by one of
    torch.distributed's Python functions with async_op=False: that caller waits for the operation
    at once, so it may as well run on the caller's thread (see _Comm.run_now), where the SIGINT
    watcher can end it (see _sigint.watching)."""
    frame = _python_caller()
    return frame is not None and frame.f_locals.get("async_op") is False


def _python_caller():
    """_python_caller returns the frame that called into this module when it is one of
    torch.distributed's Python functions (_PYTHON_CALLERS), or None."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    if frame is not None and frame.f_globals.get("__name__") in _PYTHON_CALLERS:
        return frame
    return None


def _value(fut):
    return fut.value()  # raises the operation's error


class _Pending:
    __slots__ = ("reqs", "fut", "keep", "result", "post")

    def __init__(self, reqs, fut, keep, result, post):
        self.reqs, self.fut, self.keep, self.result, self.post = reqs, fut, keep, result, post


class _Comm:
    """_Comm is one communicator handle and its completion machinery. It holds no reference to
    the ProcessGroup, so that the group's finalizer can release it."""

    def __init__(self, handle, rank, size):
        self.handle = handle
        self.rank = rank
        self.size = size
        self._lock = threading.Lock()
        self._pending = 0
        self._dead = None  # the reason, once aborted or destroyed
        self._queue = queue.SimpleQueue()
        self._pid = os.getpid()
        threading.Thread(target=self._complete_in_order, name=f"chorus-completion-{rank}",
                         daemon=True).start()
        _sigint.register(self)

    def pending(self):
        with self._lock:
            return self._pending

    def _handle(self):
        with self._lock:
            if self._dead is not None:
                raise ChorusError(_lib.ABORTED, f"chorus: communicator is no longer usable: {self._dead}")
            return self.handle

    def issue(self, fn, args, keep, result, post=None, p2p=False):
        """issue starts fn(*args, comm, &request) and returns its Work."""
        return self.issue_many([(fn, args)], keep, result, post, p2p)

    def issue_many(self, calls, keep, result, post=None, p2p=True):
        """issue_many starts every fn(*args, comm, &request) of calls and returns one Work that
        finishes when all have."""
        lib = _lib.load()
        handle = self._handle()
        if not p2p and len(calls) == 1 and _sigint.watching() and _caller_waits():
            return self.run_now(lib, handle, calls[0], keep, result, post)
        reqs = []
        try:
            for fn, args in calls:
                req = ctypes.c_void_p()
                _lib.check(getattr(lib, fn)(*args, handle, ctypes.byref(req)))
                reqs.append(req)
        except BaseException:
            for req in reqs:  # started already: wait, so the tensors outlive them
                lib.chorusWait(req)
                lib.chorusRequestFree(req)
            raise
        fut = torch.futures.Future()
        item = _Pending(reqs, fut, keep, result, post)
        with self._lock:
            self._pending += 1
            # Once the communicator is dead the completion thread may have stopped; operations
            # started just before (they fail at once) get a thread of their own, as sends do.
            in_order = not p2p and self._dead is None
            if in_order:
                self._queue.put(item)
        if not in_order:
            threading.Thread(target=self._finish, args=(item,), name="chorus-wait", daemon=True).start()
        return _work_for_caller(fut)

    def run_now(self, lib, handle, call, keep, result, post):
        """run_now runs one collective on this thread with the blocking C call (fn without
        "Async"), for a caller that waits for it at once, and returns its finished Work. It saves
        the hand-offs to the library's goroutine and to the completion thread and back, which
        cost about 0.3 ms per call on a 2-core machine whose other core runs the other rank. The
        library orders it after the operations already started. It counts as pending while it
        runs, so that Ctrl-C aborts it like a wait in C++ (see _sigint)."""
        fn, args = call
        with self._lock:
            self._pending += 1
        err = None
        try:
            code = getattr(lib, fn[:-len("Async")])(*args, handle)
            if code != _lib.SUCCESS:
                err = _lib.error(code)
            elif post is not None:
                post()
        except Exception as e:  # a copy into the caller's tensors failed
            err = e
        finally:
            with self._lock:
                self._pending -= 1
        fut = torch.futures.Future()
        if err is None:
            fut.set_result(result)
        else:
            fut.set_exception(err)
        return _work_for_caller(fut)

    def _complete_in_order(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._finish(item)

    def _finish(self, item):
        lib = _lib.load()
        err = None
        for req in item.reqs:
            code = lib.chorusWait(req)
            if code != _lib.SUCCESS and err is None:
                err = _lib.error(code)  # on this thread: the message is per thread
            lib.chorusRequestFree(req)
        try:
            if err is None and item.post is not None:
                item.post()
        except Exception as e:  # a copy into the caller's tensors failed
            err = e
        with self._lock:
            self._pending -= 1
        item.keep = None
        if err is not None:
            item.fut.set_exception(err)
        else:
            item.fut.set_result(item.result)

    def abort(self, reason):
        """abort aborts the communicator on every rank; pending operations fail at once."""
        with self._lock:
            if self._dead is not None:
                return
            self._dead = "aborted: " + reason
            handle = self.handle
            self._queue.put(None)  # after every operation queued before
        _sigint.unregister(self)
        _lib.load().chorusCommAbortWithReason(handle, reason.encode())

    def release(self):
        """release destroys the communicator (or aborts it, when operations are in flight)."""
        if os.getpid() != self._pid or _lib.forked():
            return  # a forked child owns nothing of the parent's
        if self.pending() > 0:
            self.abort(f"rank {self.rank} released its process group with operations in flight")
            return
        with self._lock:
            if self._dead is not None:
                return
            self._dead = "destroyed"
            handle = self.handle
            self._queue.put(None)
        _sigint.unregister(self)
        _lib.load().chorusCommDestroy(handle)


_live = weakref.WeakSet()  # process groups, for the exit handler


@atexit.register
def _release_all():
    for pg in list(_live):
        c = getattr(pg, "_comm", None)
        if c is not None:
            c.release()


def _local_ip_toward(host):
    """_local_ip_toward returns this host's address on the interface that routes to host (a UDP
    socket's connect sends nothing), or None."""
    try:
        for family, _, _, _, addr in socket.getaddrinfo(host, 9, type=socket.SOCK_DGRAM):
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect(addr)
                return s.getsockname()[0]
    except OSError:
        return None
    return None


def _join(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve_address():
    """serve_address returns (host to publish, host to listen on) for the rendezvous server that
    rank 0 runs: CHORUS_RDZV_HOST when set; else this host's address toward MASTER_ADDR (torchrun's
    store host); else the host name, listening on every interface."""
    host = os.environ.get("CHORUS_RDZV_HOST")
    if host:
        return host, host
    master = os.environ.get("MASTER_ADDR")
    if master:
        ip = _local_ip_toward(master)
        if ip:
            return ip, ip
    return socket.gethostname(), "0.0.0.0"


def _wait_interruptibly(thread):
    while thread.is_alive():
        thread.join(_SLICE_MS / 1000)


class ProcessGroupChorus(dist.ProcessGroup):
    """ProcessGroupChorus is the "chorus" process group: rank of size ranks that met through
    store. Rank 0 starts a Chorus rendezvous server and publishes its URL and a fresh secret in
    store; every rank joins through it (over QUIC), then the server stops."""

    def __init__(self, store, rank, size, timeout=datetime.timedelta(minutes=30)):
        super().__init__(rank, size)
        lib = _lib.load()
        _sigint.install()
        server = None
        try:
            if rank == 0:
                publish, listen = serve_address()
                secret = secrets.token_hex(32)
                server = Server(_join(listen, 0), secret)
                store.set(RENDEZVOUS_KEY, f"tcp://{_join(publish, server.port)} {secret}")
            value = store.get(RENDEZVOUS_KEY)
            url, secret = (value.decode() if isinstance(value, bytes) else value).split(" ", 1)
            ms = min(max(1, int(timeout.total_seconds() * 1000)), 2**31 - 1)
            cfg = _lib.config(timeout_ms=0 if os.environ.get("CHORUS_TIMEOUT") else ms,
                              init_timeout_ms=ms)
            out = ctypes.c_void_p()
            result = {}

            def init():
                code = lib.chorusCommInitRankConfig(ctypes.byref(out), size, rank, url.encode(),
                                                    secret.encode(), ctypes.byref(cfg))
                result["err"] = _lib.error(code) if code != _lib.SUCCESS else None

            t = threading.Thread(target=init, name="chorus-init", daemon=True)
            t.start()
            _wait_interruptibly(t)
            if result["err"] is not None:
                raise result["err"]
            self._comm = _Comm(out.value, rank, size)
            _live.add(self)
            weakref.finalize(self, self._comm.release)
            # Everyone has joined once everyone has passed a barrier: the store is done.
            self._wait(self._comm.issue("chorusBarrierAsync", (), keep=None, result=[]))
        finally:
            if server is not None:
                server.stop()

    @staticmethod
    def _wait(work):
        work.wait()

    def getBackendName(self):
        return "chorus"

    def _options(self, opts, name, default):
        return getattr(opts, name, default) if opts is not None else default

    # ---- collectives ----

    def allreduce(self, tensors, opts=None):
        t = _one(tensors, "all_reduce")
        code, op = _reduce_type(t, self._options(opts, "reduceOp", dist.ReduceOp.SUM), "all_reduce")
        buf = _dense(t)
        post = None if buf is t else (lambda: t.copy_(buf))
        p = _ptr(buf)
        return self._comm.issue("chorusAllReduceAsync", (p, p, _count(buf, code), code, op),
                                keep=(t, buf), result=[t], post=post)

    def allreduce_coalesced(self, tensors, opts=None):
        for t in tensors:
            _check_tensor(t, "all_reduce_coalesced")
        if not tensors:
            raise _invalid("all_reduce_coalesced: no tensors")
        if len({t.dtype for t in tensors}) != 1:
            raise _invalid("all_reduce_coalesced: the tensors must have one dtype")
        code, op = _reduce_type(tensors[0], self._options(opts, "reduceOp", dist.ReduceOp.SUM),
                                "all_reduce_coalesced")
        flat = torch.cat([t.reshape(-1) for t in tensors])

        def post():
            off = 0
            for t in tensors:
                t.copy_(flat[off:off + t.numel()].view(t.shape))
                off += t.numel()

        p = _ptr(flat)
        return self._comm.issue("chorusAllReduceAsync", (p, p, _count(flat, code), code, op),
                                keep=(tensors, flat), result=list(tensors), post=post)

    def broadcast(self, tensors, opts=None):
        t = _one(tensors, "broadcast")
        root = self._options(opts, "rootRank", 0)
        code = _move_type(t)
        buf = _dense(t)
        post = None if buf is t else (lambda: t.copy_(buf))
        p = _ptr(buf)
        return self._comm.issue("chorusBroadcastAsync", (p, p, _count(buf, code), code, root),
                                keep=(t, buf), result=[t], post=post)

    def reduce(self, tensors, opts=None):
        t = _one(tensors, "reduce")
        root = self._options(opts, "rootRank", 0)
        code, op = _reduce_type(t, self._options(opts, "reduceOp", dist.ReduceOp.SUM), "reduce")
        buf = _dense(t)
        mine = self.rank() == root
        post = None if buf is t or not mine else (lambda: t.copy_(buf))
        p = _ptr(buf)
        return self._comm.issue("chorusReduceAsync", (p, p if mine else None, _count(buf, code), code, op, root),
                                keep=(t, buf), result=[t], post=post)

    def allgather(self, output_tensors, input_tensors, opts=None):
        t = _one(input_tensors, "all_gather")
        if len(output_tensors) != 1 or len(output_tensors[0]) != self.size():
            raise _invalid(f"all_gather: want one list of {self.size()} output tensors")
        outs = output_tensors[0]
        for o in outs:
            _check_tensor(o, "all_gather")
            if o.numel() != t.numel() or o.dtype != t.dtype:
                raise _invalid(f"all_gather: output {tuple(o.shape)} {o.dtype} does not match input "
                               f"{tuple(t.shape)} {t.dtype}")
        code = _move_type(t)
        src = _dense(t)
        flat = torch.empty(self.size() * t.numel(), dtype=t.dtype)
        n = t.numel()

        def post():
            for i, o in enumerate(outs):
                o.copy_(flat[i * n:(i + 1) * n].view(o.shape))

        return self._comm.issue("chorusAllGatherAsync", (_ptr(src), _ptr(flat), _count(src, code), code),
                                keep=(t, src, flat, outs), result=list(outs), post=post)

    def _allgather_base(self, output, input, opts=None):
        _check_tensor(output, "all_gather_into_tensor")
        _check_tensor(input, "all_gather_into_tensor")
        if output.numel() != self.size() * input.numel() or output.dtype != input.dtype:
            raise _invalid(f"all_gather_into_tensor: output of {output.numel()} {output.dtype} for "
                           f"{self.size()} inputs of {input.numel()} {input.dtype}")
        code = _move_type(input)
        src, dst = _dense(input), _dense(output)
        post = None if dst is output else (lambda: output.copy_(dst))
        return self._comm.issue("chorusAllGatherAsync", (_ptr(src), _ptr(dst), _count(src, code), code),
                                keep=(input, output, src, dst), result=[output], post=post)

    def reduce_scatter(self, output_tensors, input_tensors, opts=None):
        out = _one(output_tensors, "reduce_scatter")
        if len(input_tensors) != 1 or len(input_tensors[0]) != self.size():
            raise _invalid(f"reduce_scatter: want one list of {self.size()} input tensors")
        ins = input_tensors[0]
        for i in ins:
            _check_tensor(i, "reduce_scatter")
            if i.numel() != out.numel() or i.dtype != out.dtype:
                raise _invalid(f"reduce_scatter: input {tuple(i.shape)} {i.dtype} does not match output "
                               f"{tuple(out.shape)} {out.dtype}")
        code, op = _reduce_type(out, self._options(opts, "reduceOp", dist.ReduceOp.SUM), "reduce_scatter")
        flat = torch.cat([i.reshape(-1) for i in ins])
        dst = _dense(out)
        post = None if dst is out else (lambda: out.copy_(dst))
        return self._comm.issue("chorusReduceScatterAsync", (_ptr(flat), _ptr(dst), _count(dst, code), code, op),
                                keep=(ins, flat, out, dst), result=[out], post=post)

    def _reduce_scatter_base(self, output, input, opts=None):
        _check_tensor(output, "reduce_scatter_tensor")
        _check_tensor(input, "reduce_scatter_tensor")
        if input.numel() != self.size() * output.numel() or output.dtype != input.dtype:
            raise _invalid(f"reduce_scatter_tensor: input of {input.numel()} {input.dtype} for "
                           f"{self.size()} outputs of {output.numel()} {output.dtype}")
        code, op = _reduce_type(output, self._options(opts, "reduceOp", dist.ReduceOp.SUM),
                                "reduce_scatter_tensor")
        src, dst = _dense(input), _dense(output)
        post = None if dst is output else (lambda: output.copy_(dst))
        return self._comm.issue("chorusReduceScatterAsync", (_ptr(src), _ptr(dst), _count(dst, code), code, op),
                                keep=(input, output, src, dst), result=[output], post=post)

    def alltoall_base(self, output, input, output_split_sizes, input_split_sizes, opts=None):
        _check_tensor(output, "all_to_all_single")
        _check_tensor(input, "all_to_all_single")
        if output.dtype != input.dtype:
            raise _invalid(f"all_to_all_single: output is {output.dtype} but input is {input.dtype}")
        n = self.size()
        if not output_split_sizes and not input_split_sizes:
            if input.numel() % n or output.numel() != input.numel():
                raise _invalid(f"all_to_all_single: {input.numel()} input and {output.numel()} output "
                               f"elements do not split evenly over {n} ranks")
            code = _move_type(input)
            src, dst = _dense(input), _dense(output)
            post = None if dst is output else (lambda: output.copy_(dst))
            return self._comm.issue("chorusAllToAllAsync", (_ptr(src), _ptr(dst), _count(src, code) // n, code),
                                    keep=(input, output, src, dst), result=[output], post=post)
        ins = _split(input, input_split_sizes, n, "input")
        outs = _split(output, output_split_sizes, n, "output")
        return self._exchange(outs, ins, keep=(input, output), result=[output], whole=output)

    def alltoall(self, output_tensors, input_tensors, opts=None):
        n = self.size()
        if len(output_tensors) != n or len(input_tensors) != n:
            raise _invalid(f"all_to_all: want {n} input and {n} output tensors")
        for t in list(output_tensors) + list(input_tensors):
            _check_tensor(t, "all_to_all")
            if t.dtype != input_tensors[0].dtype:
                raise _invalid("all_to_all: the tensors must have one dtype")
        return self._exchange(list(output_tensors), list(input_tensors), keep=None, result=list(output_tensors))

    def _exchange(self, outs, ins, keep, result, whole=None):
        """_exchange sends ins[j] to rank j and receives outs[j] from it, with sends and
        receives (sizes may differ by pair)."""
        me = self.rank()
        code = _move_type(ins[me])
        srcs = [_dense(t) for t in ins]
        dsts = [t if t.is_contiguous() else torch.empty(t.shape, dtype=t.dtype) for t in outs]
        calls = []
        for j in range(self.size()):
            if j == me:
                continue
            if dsts[j].numel():
                calls.append(("chorusRecvAsync", (_ptr(dsts[j]), _count(dsts[j], code), code, j)))
            if srcs[j].numel():
                calls.append(("chorusSendAsync", (_ptr(srcs[j]), _count(srcs[j], code), code, j)))
        if outs[me].numel() != ins[me].numel():
            raise _invalid(f"all_to_all: rank {me} sends itself {ins[me].numel()} elements but expects "
                           f"{outs[me].numel()}")
        dsts[me].copy_(srcs[me].view(dsts[me].shape))

        def post():
            for o, d in zip(outs, dsts):
                if o is not d:
                    o.copy_(d)

        return self._comm.issue_many(calls, keep=(keep, ins, outs, srcs, dsts, whole), result=result, post=post)

    def barrier(self, opts=None):
        return self._comm.issue("chorusBarrierAsync", (), keep=None, result=[])

    def gather(self, output_tensors, input_tensors, opts=None):
        t = _one(input_tensors, "gather")
        root = self._options(opts, "rootRank", 0)
        code = _move_type(t)
        src = _dense(t)
        if self.rank() != root:
            return self._comm.issue("chorusGatherAsync", (_ptr(src), None, _count(src, code), code, root),
                                    keep=(t, src), result=[])
        if len(output_tensors) != 1 or len(output_tensors[0]) != self.size():
            raise _invalid(f"gather: want one list of {self.size()} output tensors on the root")
        outs = output_tensors[0]
        for o in outs:
            _check_tensor(o, "gather")
            if o.numel() != t.numel() or o.dtype != t.dtype:
                raise _invalid(f"gather: output {tuple(o.shape)} {o.dtype} does not match input {tuple(t.shape)} {t.dtype}")
        flat = torch.empty(self.size() * t.numel(), dtype=t.dtype)
        n = t.numel()

        def post():
            for i, o in enumerate(outs):
                o.copy_(flat[i * n:(i + 1) * n].view(o.shape))

        return self._comm.issue("chorusGatherAsync", (_ptr(src), _ptr(flat), _count(src, code), code, root),
                                keep=(t, src, flat, outs), result=list(outs), post=post)

    def scatter(self, output_tensors, input_tensors, opts=None):
        out = _one(output_tensors, "scatter")
        root = self._options(opts, "rootRank", 0)
        code = _move_type(out)
        dst = _dense(out)
        post = None if dst is out else (lambda: out.copy_(dst))
        flat = None
        if self.rank() == root:
            if len(input_tensors) != 1 or len(input_tensors[0]) != self.size():
                raise _invalid(f"scatter: want one list of {self.size()} input tensors on the root")
            for i in input_tensors[0]:
                _check_tensor(i, "scatter")
                if i.numel() != out.numel() or i.dtype != out.dtype:
                    raise _invalid(f"scatter: input {tuple(i.shape)} {i.dtype} does not match output "
                                   f"{tuple(out.shape)} {out.dtype}")
            flat = torch.cat([i.reshape(-1) for i in input_tensors[0]])
        return self._comm.issue("chorusScatterAsync",
                                (_ptr(flat) if flat is not None else None, _ptr(dst), _count(dst, code), code, root),
                                keep=(out, dst, flat), result=[out], post=post)

    # ---- point to point ----

    def send(self, tensors, dstRank, tag=0):
        t = _one(tensors, "send")
        code = _move_type(t)
        src = _dense(t)
        return self._comm.issue("chorusSendAsync", (_ptr(src), _count(src, code), code, dstRank),
                                keep=(t, src), result=[t], p2p=True)

    def recv(self, tensors, srcRank, tag=0):
        t = _one(tensors, "recv")
        code = _move_type(t)
        dst = _dense(t)
        post = None if dst is t else (lambda: t.copy_(dst))
        return self._comm.issue("chorusRecvAsync", (_ptr(dst), _count(dst, code), code, srcRank),
                                keep=(t, dst), result=[t], post=post, p2p=True)

    def recv_anysource(self, tensors, tag=0):
        raise _invalid("recv from any source is not supported: name the source rank")

    def abort(self, reason="aborted by the application"):
        """abort aborts the communicator on every rank: their pending and later operations fail."""
        self._comm.abort(reason)


def _split(t, sizes, n, what):
    """_split cuts t along dimension 0 into n parts of sizes rows (equal parts when empty)."""
    rows = t.shape[0] if t.dim() > 0 else 0
    if not sizes:
        if rows % n:
            raise _invalid(f"all_to_all_single: {what} of {rows} rows does not split evenly over {n} ranks")
        sizes = [rows // n] * n
    if len(sizes) != n or sum(sizes) != rows:
        raise _invalid(f"all_to_all_single: {what} split sizes {list(sizes)} do not cut {rows} rows in {n}")
    return list(torch.split(t, list(sizes), dim=0))


def create(store, rank, size, timeout):
    """create is the backend's creator: torch calls it with the group's store, rank, size and
    timeout."""
    return ProcessGroupChorus(store, rank, size, timeout)
