"""Tests of the "chorus" torch.distributed backend. Each test launches its ranks as fresh
processes (never fork: the Go runtime inside libchorus.so does not survive it) and checks their
exit statuses and reports.

Run from the repository root, with the library built:

    go build -buildmode=c-shared -o python/chorus_torch/libchorus.so ./capi
    /usr/bin/python3 -m unittest discover -s python/tests -v

(capi/python_test.go runs them from `go test ./capi`.)
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
WORKER = os.path.join(HERE, "worker.py")
EXAMPLE = os.path.join(REPO, "examples", "torch_ddp", "train.py")

# Every rank must finish within this (a hang fails the test instead of blocking the suite).
TIMEOUT = 240

# DDP parameters over chorus and over gloo, 4 ranks: the largest relative difference allowed.
# Both reduce each element of a gradient bucket once, at one rank, but in a different order of
# ranks, and float addition is not associative: the sums can differ in their last bit, and
# training carries such differences along (see docs/torch.md).
DDP_REL_TOLERANCE = 1e-5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank, size, port, extra=None):
    env = dict(os.environ)
    env.update({
        "RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(size),
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
        "PYTHONPATH": PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", ""),
    })
    env.update(extra or {})
    return env


class Ranks:
    """Ranks is one launch of size processes of argv."""

    def __init__(self, argv, size, extra_env=None, stdin=False):
        port = free_port()
        self.procs = [subprocess.Popen(argv, env=rank_env(r, size, port, extra_env), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                       text=True)
                      for r in range(size)]

    def finish(self, test):
        """finish waits for every rank and returns their outputs; a hang or failure fails test."""
        outs = []
        try:
            for p in self.procs:
                out, _ = p.communicate(timeout=TIMEOUT)
                outs.append(out)
        finally:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for r, (p, out) in enumerate(zip(self.procs, outs)):
            test.assertEqual(p.returncode, 0, f"rank {r} exited {p.returncode}:\n{out}")
        return outs


def results(outs):
    return [json.loads(line[len("RESULT "):]) for out in outs for line in out.splitlines()
            if line.startswith("RESULT ")]


class BackendTest(unittest.TestCase):

    def test_collectives(self):
        """Every collective, dtype and error path, 2 ranks, default group made from an explicit store."""
        outs = Ranks([sys.executable, WORKER, "collectives"], 2).finish(self)
        for r, out in enumerate(outs):
            self.assertIn(f"rank {r}: collectives OK", out)

    def check_ddp(self, size, default, steps=8):
        outs = Ranks([sys.executable, WORKER, "ddp", default, str(steps)], size).finish(self)
        res = results(outs)
        self.assertEqual(len(res), size, outs)
        for r in res:
            self.assertTrue(r["ranks_agree"]["chorus"], f"chorus ranks disagree: {r}")
            self.assertTrue(r["ranks_agree"]["gloo"], f"gloo ranks disagree: {r}")
        print(f"\nDDP {size} ranks, {steps} steps, default group {default}: "
              f"bitwise equal to gloo: {res[0]['bitwise']}, max abs diff {res[0]['max_abs_diff']:.3g}, "
              f"max rel diff {res[0]['max_rel_diff']:.3g}", file=sys.stderr)
        return res[0]

    def test_ddp_2_ranks_bitwise(self):
        """With 2 ranks every sum is a + b, which is commutative: chorus equals gloo bit for bit."""
        r = self.check_ddp(2, "chorus")
        self.assertTrue(r["bitwise"], r)

    def test_ddp_4_ranks(self):
        """With 4 ranks the order of the sums differs from gloo's: equal within a stated tolerance."""
        r = self.check_ddp(4, "gloo")
        self.assertLessEqual(r["max_rel_diff"], DDP_REL_TOLERANCE, r)

    def test_ctrl_c(self):
        """SIGINT while rank 0 waits in C++ for a peer that never comes (a direct call's Work,
        DDP's backward pass, a blocking dist.all_reduce): KeyboardInterrupt, and the peer learns
        why. Without the SIGINT
        watcher rank 0 would wait out the 30-minute timeout given here."""
        for mode in ("direct", "ddp", "blocking"):
            with self.subTest(mode=mode):
                self.check_ctrl_c(mode)

    def check_ctrl_c(self, mode):
        ranks = Ranks([sys.executable, WORKER, "sigint", mode], 2, extra_env={"CHORUS_TIMEOUT": "30m"}, stdin=True)
        r0, r1 = ranks.procs
        try:
            out0, _ = r0.communicate(timeout=TIMEOUT)  # rank 0 interrupts itself
            r1.stdin.write("go\n")
            r1.stdin.flush()
            out1, _ = r1.communicate(timeout=TIMEOUT)
        finally:
            for p in ranks.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.assertNotEqual(r0.returncode, 0, out0)
        self.assertNotEqual(r0.returncode, 2, f"rank 0's wait returned:\n{out0}")
        # Ended by KeyboardInterrupt, or by the error of the interrupted operation (DDP's
        # backward raises it), reported cleanly.
        self.assertTrue("KeyboardInterrupt" in out0 or "interrupted (SIGINT, Ctrl-C) on rank 0" in out0, out0)
        self.assertIn("Traceback", out0)
        self.assertNotIn("lost sys.stderr", out0)
        self.assertEqual(r1.returncode, 0, out1)
        self.assertIn("interrupted (SIGINT, Ctrl-C) on rank 0", out1)

    def example_checksum(self, outs):
        sums = {line.split()[-1] for out in outs for line in out.splitlines() if "parameters sha256" in line}
        self.assertEqual(len(sums), 1, outs)
        return sums.pop()

    def test_example_torchrun_and_chorus_run(self):
        """examples/torch_ddp/train.py under torchrun and under `chorus run`'s environment gives
        the same parameters, bit for bit."""
        torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
        if not os.path.exists(torchrun):
            self.skipTest(f"torchrun is not at {torchrun}")
        port = free_port()
        env = rank_env(0, 2, port)
        for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(k)
        with tempfile.TemporaryDirectory() as logs:
            # Debian's torchrun (torch 1.13 on Python 3.11) fails to parse its default --redirects
            # and --tee ("'NoneType' object has no attribute 'get'"): give both.
            argv = [torchrun, "--redirects", "1", "--tee", "1", "--log_dir", logs, "--nproc_per_node", "2",
                    "--master_port", str(port), EXAMPLE, "--steps", "5"]
            p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stdout)
        under_torchrun = self.example_checksum([p.stdout])

        # What `chorus run -n 2` gives each rank: a Chorus store and CHORUS_* variables.
        sys.path.insert(0, PYTHON_DIR)
        import chorus_torch
        secret = "example-test-secret"
        server = chorus_torch.Server("127.0.0.1:0", secret)
        procs = []
        try:
            for r in range(2):
                env = rank_env(r, 2, 0, {"CHORUS_RANK": str(r), "CHORUS_SIZE": "2", "CHORUS_LOCAL_RANK": str(r),
                                         "CHORUS_LOCAL_SIZE": "2", "CHORUS_RDZV": server.url[len("tcp://"):],
                                         "CHORUS_SECRET": secret})
                for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
                    env.pop(k)
                procs.append(subprocess.Popen([sys.executable, EXAMPLE, "--steps", "5"], env=env,
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            outs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
            for p, out in zip(procs, outs):
                self.assertEqual(p.returncode, 0, out)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            server.stop()
        self.assertEqual(self.example_checksum(outs), under_torchrun)


if __name__ == "__main__":
    unittest.main()
