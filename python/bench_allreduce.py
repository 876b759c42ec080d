"""Time dist.all_reduce over the chorus backend beside gloo, in the same processes.

    /usr/bin/python3 python/bench_allreduce.py -n 2            # launches 2 ranks on this host

Each rank joins a gloo default group and a chorus group, then for each size runs the two
backends in turns (warm-up first) and reports the median time of one all_reduce of float32 and
the ratio chorus/gloo (below 1: chorus is faster); then chorus again on a tensor in shared memory
(chorus_torch.empty), whose large messages ranks of one host lend each other instead of copying
them through the ring. Needs the library (see python/README.md).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

SIZES = [1 << 10, 1 << 16, 1 << 20, 1 << 22]  # elements of float32: 4 KiB .. 16 MiB


def rank_main(args):
    import torch
    import torch.distributed as dist

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import chorus_torch  # noqa: F401  (registers the backend)

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    groups = {"gloo": None, "chorus": dist.new_group(backend="chorus")}
    rank = dist.get_rank()
    if rank == 0:
        print(f"{'elements':>10} {'bytes':>10} {'gloo ms':>10} {'chorus ms':>10} {'chorus/gloo':>12}"
              f" {'shared ms':>10} {'shared/gloo':>12}", flush=True)
    runs = dict(groups, shared=groups["chorus"])
    for n in SIZES:
        tensors = {"gloo": torch.ones(n), "chorus": torch.ones(n), "shared": chorus_torch.empty(n)}
        tensors["shared"].fill_(1)
        times = {name: [] for name in runs}
        iters = max(5, min(200, (64 << 20) // (n * 4)))
        for _ in range(3):  # warm-up
            for name, g in runs.items():
                dist.all_reduce(tensors[name], group=g)
        for _ in range(iters):
            for name, g in runs.items():
                dist.barrier(group=g)
                start = time.perf_counter()
                dist.all_reduce(tensors[name], group=g)
                times[name].append(time.perf_counter() - start)
        if rank == 0:
            gl, ch, sh = (statistics.median(times[k]) for k in ("gloo", "chorus", "shared"))
            print(f"{n:>10} {n * 4:>10} {gl * 1e3:>10.3f} {ch * 1e3:>10.3f} {ch / gl:>12.2f}"
                  f" {sh * 1e3:>10.3f} {sh / gl:>12.2f}", flush=True)
    dist.destroy_process_group()


def launch(args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for r in range(args.n):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(args.n), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, __file__, "--rank-main"], env=env))
    return max(p.wait() for p in procs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2, help="ranks to launch")
    parser.add_argument("--rank-main", action="store_true", help=argparse.SUPPRESS)
    a = parser.parse_args()
    sys.exit(rank_main(a) if a.rank_main else launch(a))
