"""chorus_torch: the torch.distributed backend "chorus", over Chorus's C ABI (libchorus.so).

Importing the package registers the backend and the chorus:// init method:

    import chorus_torch  # registers "chorus"
    import torch.distributed as dist
    dist.init_process_group("chorus")            # under torchrun (env://)
    dist.init_process_group("chorus", init_method="chorus://")   # under `chorus run`
    chorus_torch.init_process_group()            # either: picks what the environment offers

The library is loaded on first use, from CHORUS_LIBRARY or chorus_torch/libchorus.so; build it
with `go build -buildmode=c-shared -o python/chorus_torch/libchorus.so ./capi`. See
docs/torch.md for the supported operations and types, thread safety and the fork rule.
"""

import inspect
import os

import torch.distributed as dist
from torch.distributed.rendezvous import register_rendezvous_handler

from . import _lib
from ._lib import ChorusError, library_path
from .backend import ProcessGroupChorus, create
from .memory import empty
from .store import ChorusStore, Server, _rendezvous_handler, store_from_env

__all__ = [
    "BACKEND",
    "ChorusError",
    "ChorusStore",
    "ProcessGroupChorus",
    "Server",
    "empty",
    "init_process_group",
    "library_path",
    "store_from_env",
    "version",
]

BACKEND = "chorus"


def _register():
    if BACKEND.upper() in getattr(dist.Backend, "_plugins", {}):
        return
    params = inspect.signature(dist.Backend.register_backend).parameters
    if "devices" in params:  # torch 2.x
        dist.Backend.register_backend(BACKEND, create, devices=["cpu"])
    else:  # torch 1.13
        dist.Backend.register_backend(BACKEND, create)
    try:
        register_rendezvous_handler("chorus", _rendezvous_handler)
    except RuntimeError:
        pass  # registered already (the module was reloaded)


_register()


def version():
    """version returns the library's version code, major*10000 + minor*100 + patch."""
    return _lib.version()


def init_process_group(backend=BACKEND, **kwargs):
    """init_process_group is dist.init_process_group that also runs under `chorus run`: when
    neither init_method nor store is given and the environment is `chorus run`'s (CHORUS_RANK
    set, MASTER_ADDR not), it uses init_method="chorus://"."""
    if ("init_method" not in kwargs and "store" not in kwargs and os.environ.get("CHORUS_RANK")
            and not os.environ.get("MASTER_ADDR")):
        kwargs["init_method"] = "chorus://"
    dist.init_process_group(backend, **kwargs)
