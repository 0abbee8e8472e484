"""``python -m preimage.cli`` under torchrun (two processes on this machine), for the tests."""

import os
import socket
import subprocess
import sys

#: what a port taken between choosing it and torchrun's store binding it looks like: one retry
PORT_TROUBLE = ("EADDRINUSE", "Address already in use", "failed to listen", "server socket has failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, timeout: int = 300, env=None) -> subprocess.CompletedProcess:
    """Run ``preimage ARGS`` (``--quiet`` first) as 2 torchrun processes on a free port (``env``:
    default this environment with one OpenMP thread per process); once more on another port if the
    first port was taken meanwhile (before any work: the store binds the port first)."""
    env = dict(os.environ, OMP_NUM_THREADS="1") if env is None else env
    for attempt in range(2):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), "-m", "preimage.cli", "--quiet", *args]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if r.returncode == 0 or attempt or not any(s in r.stderr for s in PORT_TROUBLE):
            return r
    return r
