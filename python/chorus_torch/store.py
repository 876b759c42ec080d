"""The Chorus rendezvous store as a torch.distributed Store, the chorus:// init method, and the
rendezvous server the backend's rank 0 runs.

Under `chorus run`, the environment names a Chorus store (CHORUS_RDZV, CHORUS_SECRET) instead of
torch's MASTER_ADDR and MASTER_PORT; ChorusStore lets torch use it, and the init method
"chorus://" (registered on import) builds one from the environment:

    dist.init_process_group("chorus", init_method="chorus://")
"""

import ctypes
import datetime
import os
import time
from urllib.parse import parse_qs, urlparse

import torch.distributed as dist

from . import _lib

# How long one blocking call into the library may take before Python gets control back (to
# notice Ctrl-C, or a deadline).
_SLICE_MS = 500

_DEFAULT_TIMEOUT = datetime.timedelta(minutes=5)


def _ms(td):
    return max(1, int(td.total_seconds() * 1000))


def _bytes(v):
    if isinstance(v, str):
        return v.encode()
    return bytes(v)


class Server:
    """Server is a Chorus rendezvous store server running in this process (through the C ABI),
    reachable at url by clients that hold secret."""

    def __init__(self, listen, secret):
        lib = _lib.load()
        self._handle = ctypes.c_void_p()
        _lib.check(lib.chorusRendezvousServe(listen.encode(), secret.encode(), ctypes.byref(self._handle)))
        buf = ctypes.create_string_buffer(512)
        _lib.check(lib.chorusRendezvousURL(self._handle, buf, len(buf)))
        self.url = buf.value.decode()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self):
        """stop stops the server; communicators made through it keep working."""
        if self._handle:
            h, self._handle = self._handle, None
            _lib.check(_lib.load().chorusRendezvousStop(h))


class ChorusStore(dist.Store):
    """ChorusStore is a torch.distributed Store kept in a Chorus rendezvous store (a `chorus run`
    launcher's, or any Chorus store server): url is tcp://host:port (or host:port), file:///dir
    or env://; secret the job secret (CHORUS_SECRET)."""

    def __init__(self, url, secret, timeout=_DEFAULT_TIMEOUT, prefix="torch/"):
        super().__init__()
        if "://" not in url:
            url = "tcp://" + url
        self._prefix = prefix
        self._timeout = timeout
        lib = _lib.load()
        self._handle = ctypes.c_void_p()
        _lib.check(lib.chorusStoreOpen(url.encode(), _bytes(secret) if secret is not None else None,
                                       _ms(timeout), ctypes.byref(self._handle)))

    def _key(self, key):
        return (self._prefix + key).encode()

    def set_timeout(self, timeout):
        self._timeout = timeout

    def set(self, key, value):
        v = _bytes(value)
        buf = ctypes.create_string_buffer(v, len(v))
        _lib.check(_lib.load().chorusStoreSet(self._handle, self._key(key), buf, len(v)))

    def _get(self, key, deadline):
        lib = _lib.load()
        k = self._key(key)
        size = ctypes.c_size_t()
        buf = ctypes.create_string_buffer(4096)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _lib.ChorusError(_lib.TIMEOUT, f"chorus store: key {key!r} did not appear in time")
            code = lib.chorusStoreGet(self._handle, k, buf, len(buf), ctypes.byref(size),
                                      max(1, min(_SLICE_MS, int(left * 1000))))
            if code == _lib.TIMEOUT:
                continue  # a slice passed: Python may raise KeyboardInterrupt here
            _lib.check(code)
            if size.value <= len(buf):
                return buf.raw[: size.value]
            buf = ctypes.create_string_buffer(size.value)

    def get(self, key):
        return self._get(key, time.monotonic() + self._timeout.total_seconds())

    def add(self, key, value):
        out = ctypes.c_int64()
        _lib.check(_lib.load().chorusStoreAdd(self._handle, self._key(key), int(value), ctypes.byref(out)))
        return out.value

    def compare_set(self, key, expected, desired):
        e, d = _bytes(expected), _bytes(desired)
        size = ctypes.c_size_t()
        cap = max(len(e), len(d), 4096)
        buf = ctypes.create_string_buffer(cap)
        lib = _lib.load()
        _lib.check(lib.chorusStoreCompareSet(self._handle, self._key(key), ctypes.create_string_buffer(e, len(e)),
                                             len(e), ctypes.create_string_buffer(d, len(d)), len(d), buf, cap,
                                             ctypes.byref(size)))
        if size.value > cap:
            return self.get(key)
        return buf.raw[: size.value]

    def _wait(self, keys, timeout_ms):
        arr = (ctypes.c_char_p * max(1, len(keys)))(*[self._key(k) for k in keys])
        return _lib.load().chorusStoreWait(self._handle, arr, len(keys), timeout_ms)

    def wait(self, keys, timeout=None):
        deadline = time.monotonic() + (timeout or self._timeout).total_seconds()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _lib.ChorusError(_lib.TIMEOUT, f"chorus store: keys {keys} did not appear in time")
            code = self._wait(keys, max(1, min(_SLICE_MS, int(left * 1000))))
            if code != _lib.TIMEOUT:
                _lib.check(code)
                return

    def check(self, keys):
        code = self._wait(keys, 0)
        if code == _lib.TIMEOUT:
            return False
        _lib.check(code)
        return True

    def num_keys(self):
        raise _lib.ChorusError(_lib.INVALID_USAGE, "chorus store: num_keys is not supported")

    def delete_key(self, key):
        raise _lib.ChorusError(_lib.INVALID_USAGE, "chorus store: delete_key is not supported")

    def close(self):
        """close closes the connection to the store."""
        if self._handle:
            h, self._handle = self._handle, None
            _lib.check(_lib.load().chorusStoreClose(h))


def store_from_env(timeout=_DEFAULT_TIMEOUT):
    """store_from_env returns (store, rank, world_size) from the environment `chorus run`
    sets: CHORUS_RANK, CHORUS_SIZE, CHORUS_RDZV and CHORUS_SECRET."""
    missing = [v for v in ("CHORUS_RANK", "CHORUS_SIZE", "CHORUS_RDZV") if not os.environ.get(v)]
    if missing:
        raise ValueError(f"chorus://: {', '.join(missing)} not set (run under `chorus run`)")
    store = ChorusStore(os.environ["CHORUS_RDZV"], os.environ.get("CHORUS_SECRET", ""), timeout)
    return store, int(os.environ["CHORUS_RANK"]), int(os.environ["CHORUS_SIZE"])


def _rendezvous_handler(url, timeout=_DEFAULT_TIMEOUT, **kwargs):
    """_rendezvous_handler is the chorus:// init method: the store, rank and size of `chorus
    run`'s environment (rank and world_size in the URL's query, as torch adds them, must agree)."""
    store, rank, size = store_from_env(timeout)
    query = parse_qs(urlparse(url).query)
    for name, have in (("rank", rank), ("world_size", size)):
        want = int(query.get(name, ["-1"])[0])
        if want not in (-1, have):
            raise ValueError(f"chorus://: {name}={want} was passed but the environment says {have}")
    yield (store, rank, size)
    raise RuntimeError("chorus://: the rendezvous cannot be restarted")
