"""Ctrl-C while a collective waits in C++.

torch waits for some operations in C++ (DDP's backward pass, the Work handed to C++ callers),
where Python cannot raise KeyboardInterrupt until the wait ends: with a peer that hangs, that
is the communicator's timeout (minutes). So this module watches SIGINT: when the main thread has
not taken a SIGINT within GRACE seconds (it is stuck in C++), every Chorus communicator of the
process with operations in flight is aborted, and so is every one that starts an operation
until the main thread takes the signal. The aborted operations fail at once with "interrupted",
the wait ends, and KeyboardInterrupt follows; the other ranks learn why. A main thread that
takes the signal in time (it was running Python code) gets its KeyboardInterrupt and nothing is
aborted.

It is installed from the main thread when SIGINT has Python's default handler (which raises
KeyboardInterrupt) and no wakeup fd is set (asyncio sets one): it replaces the handler with one
that does the same and counts, and sets a wakeup fd, which the C-level handler writes to at once
from any thread. A program that installs its own SIGINT handler later is left alone. Set
CHORUS_SIGINT=off to turn it off.
"""

import os
import signal
import sys
import threading

# GRACE is how long the main thread has to take a SIGINT before communicators are aborted.
GRACE = 0.1

_lock = threading.RLock()  # reentrant: the handler may run while the main thread holds it
_installed = False
_comms = set()  # live communicators (objects with .pending(), .rank and .abort(reason))
_arrived = 0  # SIGINTs the watcher has seen
_taken = 0  # SIGINTs the main thread's handler has taken
_taken_cv = threading.Condition(_lock)


def register(c):
    """register makes c one of the communicators aborted on SIGINT."""
    with _lock:
        _comms.add(c)


def unregister(c):
    with _lock:
        _comms.discard(c)


# REASON starts the abort reason of an interrupted communicator.
REASON = "interrupted (SIGINT, Ctrl-C)"


def _handler(signum, frame):
    """_handler is Python's default SIGINT behaviour (raise KeyboardInterrupt), counted. Two
    cases do not raise: while the error of an operation this SIGINT interrupted is being
    handled (that error is the interruption), and outside any Python frame (Python is printing
    the uncaught error of an interrupted operation, and a KeyboardInterrupt there would garble
    the report)."""
    global _taken
    with _lock:
        _taken += 1
        _taken_cv.notify_all()
    exc = sys.exc_info()[1]
    if frame is None or exc is not None and REASON in str(exc):
        return
    raise KeyboardInterrupt


def install():
    """install starts the watcher, when it can (see the module documentation)."""
    global _installed
    if _installed or os.environ.get("CHORUS_SIGINT", "on").lower() in ("off", "0", "no", "false"):
        return
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except (ValueError, OSError):
        os.close(r)
        os.close(w)
        return
    if old != -1:
        signal.set_wakeup_fd(old)
        os.close(r)
        os.close(w)
        return
    signal.signal(signal.SIGINT, _handler)
    _installed = True
    threading.Thread(target=_watch, args=(r,), name="chorus-sigint", daemon=True).start()


def watching():
    """watching reports whether the watcher runs and SIGINT still has its handler: then Ctrl-C
    ends a wait in C (by aborting its communicator), and an operation may block in C."""
    return _installed and signal.getsignal(signal.SIGINT) is _handler


def _watch(fd):
    global _arrived
    while True:
        try:
            data = os.read(fd, 512)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT not in data or signal.getsignal(signal.SIGINT) is not _handler:
            continue
        with _lock:
            _arrived += 1
            mine = _arrived
            # The main thread takes the signal as soon as it runs Python code.
            while _taken < mine:
                if not _taken_cv.wait(GRACE):
                    busy = [c for c in _comms if c.pending() > 0]
                    _lock.release()
                    try:
                        for c in busy:
                            c.abort("%s on rank %d" % (REASON, c.rank))
                    finally:
                        _lock.acquire()


def _after_fork_in_child():
    # A forked child (a DataLoader worker) must not wake the parent's watcher.
    if _installed:
        try:
            signal.set_wakeup_fd(-1)
        except ValueError:
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
