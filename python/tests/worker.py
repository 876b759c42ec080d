"""One rank of a test scenario (test_backend.py launches them): worker.py SCENARIO [ARGS].

Every scenario reads RANK and WORLD_SIZE (and MASTER_ADDR/MASTER_PORT) from the environment,
as torchrun sets them, checks what it can on its own rank, and exits 0 only when all is well.
"""

import gc
import json
import os
import signal
import sys
import threading

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import chorus_torch  # noqa: E402  (registers the backend)
from chorus_torch import ChorusError  # noqa: E402

torch.set_num_threads(1)
RANK = int(os.environ["RANK"])
SIZE = int(os.environ["WORLD_SIZE"])


def expect(cond, msg):
    if not cond:
        raise AssertionError(f"rank {RANK}: {msg}")


def expect_error(fn, *fragments):
    """expect_error calls fn and checks that it raises an error whose message has fragments."""
    try:
        fn()
    except (ChorusError, RuntimeError, ValueError, TypeError) as e:
        for f in fragments:
            expect(f in str(e), f"error {e!r} does not mention {f!r}")
        return e
    raise AssertionError(f"rank {RANK}: no error from {fn}")


def value(rank, n, dtype):
    """value is what rank contributes: small integers, exact in every dtype."""
    v = (torch.arange(n) % 5 + 1) * (rank + 1)
    if dtype == torch.bool:
        return (v % 2).to(torch.bool)
    return v.to(dtype)


REDUCIBLE = [torch.int8, torch.uint8, torch.int32, torch.int64, torch.float16, torch.bfloat16,
             torch.float32, torch.float64]


def check_all_reduce(group):
    n = 7
    for dt in REDUCIBLE:
        everyone = [value(r, n, dt) for r in range(SIZE)]
        for op, ref in ((dist.ReduceOp.SUM, lambda xs: sum(xs[1:], xs[0])),
                        (dist.ReduceOp.MAX, lambda xs: torch.stack(xs).max(0).values),
                        (dist.ReduceOp.MIN, lambda xs: torch.stack(xs).min(0).values),
                        (dist.ReduceOp.PRODUCT, lambda xs: torch.stack(xs).double().prod(0))):
            t = value(RANK, n, dt)
            dist.all_reduce(t, op=op, group=group)
            want = ref(everyone).to(dt)
            expect(torch.equal(t, want), f"all_reduce {op} {dt}: {t} != {want}")
    # AVG (gloo lacks it): sums that divide evenly.
    t = value(RANK, 6, torch.float32) * 0 + float(RANK) * 2
    dist.all_reduce(t, op=dist.ReduceOp.AVG, group=group)
    expect(torch.equal(t, torch.full((6,), float(SIZE - 1))), f"all_reduce AVG: {t}")
    # bool: SUM and MAX are logical or, PRODUCT and MIN logical and.
    b = torch.tensor([RANK == 0, False, True])
    dist.all_reduce(b, op=dist.ReduceOp.SUM, group=group)
    expect(b.tolist() == [True, False, True], f"bool or: {b}")
    b = torch.tensor([RANK == 0, True])
    dist.all_reduce(b, op=dist.ReduceOp.MIN, group=group)
    expect(b.tolist() == [SIZE == 1, True], f"bool and: {b}")
    # complex sums as pairs of reals.
    c = torch.tensor([1 + 2j, RANK - 1j], dtype=torch.complex64)
    dist.all_reduce(c, group=group)
    want = torch.tensor([SIZE * (1 + 2j), SIZE * (SIZE - 1) / 2 - SIZE * 1j], dtype=torch.complex64)
    expect(torch.equal(c, want), f"complex sum: {c}")
    # A non-contiguous tensor (a transposed view) is reduced in place.
    m = (torch.arange(6, dtype=torch.float32).reshape(2, 3) + RANK).t()
    dist.all_reduce(m, group=group)
    want = (torch.arange(6, dtype=torch.float32).reshape(2, 3) * SIZE + SIZE * (SIZE - 1) / 2).t()
    expect(torch.equal(m, want), f"non-contiguous: {m}")
    # Empty tensors are fine.
    e = torch.empty(0)
    dist.all_reduce(e, group=group)
    # all_reduce_coalesced: several tensors in one call.
    ts = [torch.ones(3) * (RANK + 1), torch.ones(2, dtype=torch.float32) * 2]
    dist.all_reduce_coalesced(ts, group=group)
    expect(torch.equal(ts[0], torch.full((3,), SIZE * (SIZE + 1) / 2)) and torch.equal(ts[1], torch.full((2,), 2.0 * SIZE)),
           f"coalesced: {ts}")


def check_unsupported(group):
    expect_error(lambda: dist.all_reduce(torch.ones(3, dtype=torch.int16), group=group),
                 "torch.int16 cannot be reduced")
    expect_error(lambda: dist.all_reduce(torch.ones(3, dtype=torch.float8_e4m3fn if hasattr(torch, "float8_e4m3fn")
                                         else torch.int16), op=dist.ReduceOp.MAX, group=group), "cannot be reduced")
    expect_error(lambda: dist.all_reduce(torch.ones(3, dtype=torch.int32), op=dist.ReduceOp.BXOR, group=group),
                 "BXOR is not supported")
    expect_error(lambda: dist.all_reduce(torch.ones(3, dtype=torch.bool), op=dist.ReduceOp.AVG, group=group),
                 "AVG is not supported on bool")
    expect_error(lambda: dist.recv(torch.ones(1), group=group), "name the source rank")
    expect_error(lambda: dist.all_gather_into_tensor(torch.empty(SIZE * 2 + 1), torch.ones(2), group=group),
                 "all_gather_into_tensor")
    if torch.cuda.is_available():
        expect_error(lambda: dist.all_reduce(torch.ones(2, device="cuda"), group=group), "only CPU tensors")
    # Refused calls leave the ranks in step: this one still works.
    t = torch.ones(2)
    dist.all_reduce(t, group=group)
    expect(torch.equal(t, torch.full((2,), float(SIZE))), "all_reduce after refused calls")


def check_movement(group):
    # Every dtype moves, reducible or not (int16 and complex move as bytes).
    for dt in REDUCIBLE + [torch.bool, torch.int16, torch.complex128]:
        n = 5
        everyone = [value(r, n, dt) if dt != torch.complex128 else torch.arange(n).to(dt) * (r + 1j)
                    for r in range(SIZE)]
        mine = everyone[RANK].clone()
        outs = [torch.zeros_like(mine) for _ in range(SIZE)]
        dist.all_gather(outs, mine, group=group)
        expect(all(torch.equal(o, w) for o, w in zip(outs, everyone)), f"all_gather {dt}")
        flat = torch.zeros(SIZE * n, dtype=dt)
        dist.all_gather_into_tensor(flat, mine, group=group)
        expect(torch.equal(flat, torch.cat(everyone)), f"all_gather_into_tensor {dt}")
        b = mine.clone() if RANK == SIZE - 1 else torch.zeros_like(mine)
        dist.broadcast(b, src=SIZE - 1, group=group)
        expect(torch.equal(b, everyone[SIZE - 1]), f"broadcast {dt}")
        if RANK == 0:
            got = [torch.zeros_like(mine) for _ in range(SIZE)]
            dist.gather(mine, gather_list=got, dst=0, group=group)
            expect(all(torch.equal(o, w) for o, w in zip(got, everyone)), f"gather {dt}")
            s = torch.zeros_like(mine)
            dist.scatter(s, scatter_list=everyone, src=0, group=group)
        else:
            dist.gather(mine, dst=0, group=group)
            s = torch.zeros_like(mine)
            dist.scatter(s, src=0, group=group)
        expect(torch.equal(s, everyone[RANK]), f"scatter {dt}")


def check_shared_memory(group):
    # Tensors in shared memory (chorus_torch.empty), large enough that ranks lend each other the
    # messages: the results are exact, and the memory is given back with the tensors.
    n = 1 << 21  # 8 MiB of float32
    t = chorus_torch.empty(n)
    expect(t.shape == (n,) and t.dtype == torch.float32, f"empty: {t.shape} {t.dtype}")
    expect(bool((t == 0).all()), "fresh shared memory is not zero")
    everyone = [value(r, n, torch.float32) for r in range(SIZE)]
    t.copy_(everyone[RANK])
    dist.all_reduce(t, group=group)
    expect(torch.equal(t, sum(everyone[1:], everyone[0])), "all_reduce on shared memory")
    flat = chorus_torch.empty(SIZE, n // 4, dtype=torch.float64)
    mine = chorus_torch.empty((n // 4,), dtype=torch.float64)
    mine.copy_(value(RANK, n // 4, torch.float64))
    dist.all_gather_into_tensor(flat.view(-1), mine, group=group)
    for r in range(SIZE):
        expect(torch.equal(flat[r], value(r, n // 4, torch.float64)), f"all_gather rank {r}")
    expect_error(lambda: chorus_torch.empty(-1), "negative")
    del t, flat, mine
    gc.collect()


def check_run_now(group):
    # A blocking call of torch.distributed's (async_op=False) runs on the calling thread, through
    # the library's blocking function; an async one goes through the completion thread.
    pg = group if group is not None else dist.distributed_c10d._get_default_group()
    comm = pg._comm
    ran = []
    run_now = comm.run_now
    comm.run_now = lambda *a, **k: ran.append(1) or run_now(*a, **k)
    try:
        t = value(RANK, 9, torch.float32)
        dist.all_reduce(t, group=group)
        expect(len(ran) == 1, f"a blocking all_reduce ran on the caller's thread {len(ran)} times")
        expect(torch.equal(t, sum(value(r, 9, torch.float32) for r in range(SIZE))), "blocking all_reduce")
        w = dist.all_reduce(t, group=group, async_op=True)
        w.wait()
        expect(len(ran) == 1, "an async all_reduce ran on the caller's thread")
        dist.broadcast(t, src=0, group=group)
        expect(len(ran) == 2, "a blocking broadcast did not run on the caller's thread")
    finally:
        comm.run_now = run_now


def check_reductions_to_one(group):
    n = 6
    everyone = [value(r, SIZE * n, torch.float32) for r in range(SIZE)]
    total = sum(everyone[1:], everyone[0])
    out = torch.zeros(n)
    dist.reduce_scatter(out, list(value(RANK, SIZE * n, torch.float32).chunk(SIZE)), group=group)
    expect(torch.equal(out, total.chunk(SIZE)[RANK]), f"reduce_scatter: {out}")
    out = torch.zeros(n)
    dist.reduce_scatter_tensor(out, value(RANK, SIZE * n, torch.float32), group=group)
    expect(torch.equal(out, total.chunk(SIZE)[RANK]), f"reduce_scatter_tensor: {out}")
    t = value(RANK, n, torch.int64)
    dist.reduce(t, dst=SIZE - 1, op=dist.ReduceOp.MAX, group=group)
    if RANK == SIZE - 1:
        expect(torch.equal(t, value(SIZE - 1, n, torch.int64)), f"reduce: {t}")


def check_all_to_all(group):
    n = 3
    inp = torch.arange(SIZE * n, dtype=torch.float64) + 100 * RANK
    out = torch.zeros(SIZE * n, dtype=torch.float64)
    dist.all_to_all_single(out, inp, group=group)
    want = torch.cat([torch.arange(RANK * n, (RANK + 1) * n, dtype=torch.float64) + 100 * r for r in range(SIZE)])
    expect(torch.equal(out, want), f"all_to_all_single: {out}")
    # Uneven splits: rank r sends j+1 rows to rank j, each row [r, j].
    in_splits = [j + 1 for j in range(SIZE)]
    out_splits = [RANK + 1] * SIZE
    inp = torch.cat([torch.tensor([[RANK, j]] * (j + 1)) for j in range(SIZE)])
    out = torch.zeros(sum(out_splits), 2, dtype=torch.int64)
    dist.all_to_all_single(out, inp, out_splits, in_splits, group=group)
    want = torch.cat([torch.tensor([[r, RANK]] * (RANK + 1)) for r in range(SIZE)])
    expect(torch.equal(out, want), f"all_to_all_single uneven: {out}")
    ins = [torch.full((j + 1,), float(RANK * 10 + j)) for j in range(SIZE)]
    outs = [torch.zeros(RANK + 1) for _ in range(SIZE)]
    dist.all_to_all(outs, ins, group=group)
    expect(all(torch.equal(outs[r], torch.full((RANK + 1,), float(r * 10 + RANK))) for r in range(SIZE)),
           f"all_to_all lists: {outs}")


def check_p2p(group):
    nxt, prv = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    send = torch.arange(4, dtype=torch.int32) + RANK
    got = torch.zeros(4, dtype=torch.int32)
    reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, send, nxt, group),
                                   dist.P2POp(dist.irecv, got, prv, group)])
    for r in reqs:
        r.wait()
    expect(torch.equal(got, torch.arange(4, dtype=torch.int32) + prv), f"isend/irecv ring: {got}")
    if SIZE >= 2 and RANK < 2:
        t = torch.tensor([7.0, 8.0]) if RANK == 0 else torch.zeros(2)
        if RANK == 0:
            dist.send(t, 1, group=group)
            dist.recv(t, 1, group=group)
            expect(torch.equal(t, torch.tensor([8.0, 9.0])), f"send/recv reply: {t}")
        else:
            dist.recv(t, 0, group=group)
            dist.send(t + 1, 0, group=group)


def check_async(group):
    # Several operations in flight; the tensor of the first is only referenced by the op.
    w1 = dist.all_reduce(torch.ones(1000) * (RANK + 1), async_op=True, group=group)
    gc.collect()
    t2 = torch.full((5,), float(RANK))
    w2 = dist.all_reduce(t2, op=dist.ReduceOp.MAX, async_op=True, group=group)
    w3 = dist.barrier(async_op=True, group=group)
    w3.wait()
    w2.wait()
    expect(w1.is_completed(), "first op not done after later ones")
    first = w1.get_future().value()[0]
    expect(torch.equal(first, torch.full((1000,), SIZE * (SIZE + 1) / 2)), "async result")
    expect(torch.equal(t2, torch.full((5,), float(SIZE - 1))), f"async max: {t2}")


def check_fork(group):
    """A forked child that calls a collective gets an error at once instead of hanging."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            dist.all_reduce(torch.ones(1), group=group)
        except ChorusError as e:
            code = 0 if "forked" in str(e) else 4
        except BaseException:
            code = 5
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    expect(os.waitstatus_to_exitcode(status) == 0, f"forked child exited {os.waitstatus_to_exitcode(status)}")


def check_mismatch(group):
    """Ranks that issue different calls get an error from wait (not wrong data); the group is
    then aborted, and later calls fail at once."""
    t = torch.ones(4 if RANK == 0 else 5)
    expect_error(lambda: dist.all_reduce(t, group=group), "mismatch")
    expect_error(lambda: dist.barrier(group=group), "aborted")


def scenario_collectives():
    """The default group is chorus, made from a TCPStore passed explicitly."""
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), SIZE, RANK == 0)
    dist.init_process_group("chorus", store=store, rank=RANK, world_size=SIZE)
    expect(dist.get_backend() == "chorus" or dist.get_backend().lower() == "chorus", dist.get_backend())
    group = None
    check_all_reduce(group)
    check_unsupported(group)
    check_movement(group)
    check_shared_memory(group)
    check_run_now(group)
    check_reductions_to_one(group)
    check_all_to_all(group)
    check_p2p(group)
    check_async(group)
    check_fork(group)
    check_mismatch(group)
    dist.destroy_process_group()
    print(f"rank {RANK}: collectives OK", flush=True)


def mlp(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32),
                               torch.nn.Tanh(), torch.nn.Linear(32, 4))


def train(model, group, steps):
    ddp = torch.nn.parallel.DistributedDataParallel(model, process_group=group)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        g = torch.Generator().manual_seed(1000 * step + RANK)
        x = torch.randn(8, 16, generator=g)
        y = torch.randn(8, 4, generator=g)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def scenario_ddp(default, steps):
    """DDP training of one MLP over gloo and over chorus (one of them the default group, made
    through env://, the other a new_group), from the same start on the same data."""
    other = "gloo" if default == "chorus" else "chorus"
    dist.init_process_group(default)
    groups = {default: None, other: dist.new_group(backend=other)}
    params = {name: train(mlp(0), g, steps) for name, g in groups.items()}
    a, b = params["chorus"], params["gloo"]
    bitwise = all(torch.equal(x, y) for x, y in zip(a, b))
    diff = max((x - y).abs().max().item() for x, y in zip(a, b))
    rel = max(((x - y).abs() / y.abs().clamp_min(1e-3)).max().item() for x, y in zip(a, b))
    # Every rank must hold the same parameters, under each backend.
    flat = {name: torch.cat([p.reshape(-1) for p in ps]) for name, ps in params.items()}
    same = {}
    for name, f in flat.items():
        every = [torch.zeros_like(f) for _ in range(SIZE)]
        dist.all_gather(every, f)
        same[name] = all(torch.equal(e, every[0]) for e in every)
    dist.barrier()
    dist.destroy_process_group()
    print("RESULT " + json.dumps({"rank": RANK, "size": SIZE, "default": default, "steps": steps,
                                  "bitwise": bitwise, "max_abs_diff": diff, "max_rel_diff": rel,
                                  "ranks_agree": same}), flush=True)


def interrupt_once_waiting_in_cpp(group):
    """interrupt_once_waiting_in_cpp sends this process SIGINT as soon as the main thread, having
    started an operation on group, gives up the GIL: with a huge switch interval it gives it up
    only where it blocks, and what it blocks in then is torch's C++ wait for that operation, or
    the library's blocking call that runs it (run_now)."""
    sys.setswitchinterval(1000)
    issued = threading.Event()
    comm = group._comm
    issue_many, run_now = comm.issue_many, comm.run_now

    def spy(*args, **kwargs):
        work = issue_many(*args, **kwargs)
        issued.set()
        return work

    def spy_now(*args, **kwargs):
        issued.set()
        return run_now(*args, **kwargs)

    comm.issue_many, comm.run_now = spy, spy_now

    def fire():
        issued.wait()  # returns once set, and once the main thread lets this thread run
        sys.setswitchinterval(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()


def scenario_sigint(mode):
    """Rank 0 waits in C++ for an all_reduce that rank 1 has not joined: the Work of a direct
    call (mode "direct", what DDP's reducer gets), DDP's backward pass (mode "ddp") or the
    library's blocking call that dist.all_reduce runs (mode "blocking"), and gets SIGINT there. It must end with KeyboardInterrupt (without the SIGINT watcher it would wait
    out CHORUS_TIMEOUT), and rank 1, told to go on by the test once rank 0 is gone, must fail
    with rank 0's reason."""
    dist.init_process_group("chorus")
    t = torch.ones(4)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 4)) if mode == "ddp" else None
    if RANK == 0:
        group = dist.distributed_c10d._get_default_group()
        interrupt_once_waiting_in_cpp(group)
        if mode == "ddp":
            model(torch.ones(2, 4)).sum().backward()
        elif mode == "blocking":
            dist.all_reduce(t)  # runs in the library, on this thread
        else:
            group.allreduce([t]).wait()  # torch's own Work: its wait() blocks in C++
        print("rank 0: the wait returned", flush=True)
        sys.exit(2)
    sys.stdin.readline()
    e = expect_error(lambda: dist.all_reduce(t), "interrupted (SIGINT")
    print(f"rank {RANK}: got {e}", flush=True)


if __name__ == "__main__":
    name = sys.argv[1]
    if name == "collectives":
        scenario_collectives()
    elif name == "ddp":
        scenario_ddp(sys.argv[2], int(sys.argv[3]))
    elif name == "sigint":
        scenario_sigint(sys.argv[2])
    else:
        raise SystemExit(f"unknown scenario {name}")
