"""Train a small MLP on synthetic data with DistributedDataParallel over Chorus.

From the repository root, after building the library once
(go build -buildmode=c-shared -o python/chorus_torch/libchorus.so ./capi):

    torchrun --nproc_per_node 2 examples/torch_ddp/train.py
    go run ./cmd/chorus run -n 2 -- /usr/bin/python3 examples/torch_ddp/train.py
    torchrun --nproc_per_node 2 examples/torch_ddp/train.py --backend gloo   # to compare

(Debian's torchrun, torch 1.13 on Python 3.11, needs `torchrun --redirects 1 --tee 1 ...`.)

Each rank trains on its own batches; DDP averages the gradients over the ranks, so every rank
ends with the same parameters. Rank 0 prints the loss and a digest of the parameters: the same
seed and rank count give the same digest however the ranks were launched.
"""

import argparse
import hashlib
import os
import sys

import torch
import torch.distributed as dist

try:
    import chorus_torch
except ImportError:  # not installed: use the copy in this repository
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import chorus_torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="chorus", help="torch.distributed backend (chorus or gloo)")
    parser.add_argument("--steps", type=int, default=20, help="training steps")
    parser.add_argument("--batch", type=int, default=32, help="samples per rank per step")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model and the data")
    args = parser.parse_args()

    torch.set_num_threads(1)  # several ranks share this host's cores
    # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR...; `chorus run` sets CHORUS_RANK, CHORUS_RDZV...
    # chorus_torch.init_process_group handles both (it is dist.init_process_group under torchrun).
    chorus_torch.init_process_group(args.backend)
    rank, size = dist.get_rank(), dist.get_world_size()

    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
    )
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.02, momentum=0.9)
    target = torch.randn(16, 1) / 4  # the synthetic task: a noisy linear function

    for step in range(args.steps):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step * 1009 + rank)
        x = torch.randn(args.batch, 16, generator=g)
        y = x @ target + 0.1 * torch.randn(args.batch, 1, generator=g)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        loss.backward()  # DDP all-reduces the gradients here, through the backend
        opt.step()
        avg = loss.detach().clone()
        dist.all_reduce(avg, op=dist.ReduceOp.SUM)
        if rank == 0 and (step % 5 == 0 or step == args.steps - 1):
            print(f"step {step:3d}  loss {avg.item() / size:.5f}", flush=True)

    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
    print(f"rank {rank}: parameters sha256 {digest}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
