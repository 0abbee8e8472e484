"""The ``preimage`` command. Thin: every verb parses its options, calls one library function, prints.

The verbs live in the modules of this package and register themselves in
:data:`preimage.cli.common.COMMANDS`; this module builds the parser and runs one.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import List, Optional

import torch

from .. import progress
from ..data import usable_cores
from ..errors import ConfigError, PreimageError
from . import atlas, attacks, backward, classify, datasets, demo, gradients, inversion, learned, natural, privacy  # noqa: F401  (each registers its verbs)
from .common import COMMANDS, positive

#: the order --help lists the verbs in
ORDER = ("demo", "invert", "layers", "evaluate", "maximize", "caricature", "project", "top-activations", "diagnose",
         "attack", "robustness", "transfer", "leakage", "gradient-leakage",
         "train-inverter", "perturb", "interpolate", "sample", "train-classifier", "eval-classifier", "make-shards")

def default_threads() -> int:
    """Threads torch uses when --threads is not given: ``PREIMAGE_THREADS`` if set, else every core
    this process may use (BENCHMARKS.md, "Threads": on a machine shared with other busy processes,
    ``--threads 1`` is faster)."""
    env = os.environ.get("PREIMAGE_THREADS", "").strip()
    if env:
        try:
            return positive("PREIMAGE_THREADS")(env)
        except argparse.ArgumentTypeError as e:
            raise ConfigError(str(e)) from None
    return usable_cores()


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line: ``preimage COMMAND: error: ...``, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _threads(s: str) -> int:
    return positive("--threads")(s)


def _version() -> str:
    try:
        return version("preimage")
    except PackageNotFoundError:
        return "unknown"


def _ordered():
    return sorted(COMMANDS.values(), key=lambda c: ORDER.index(c.name) if c.name in ORDER else len(ORDER))


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="preimage", description="What an image representation keeps and what it throws away.",
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog="examples:\n" + "\n".join(f"  {c.example}" for c in _ordered()))
    ap.add_argument("--version", action="version", version=f"preimage {_version()}")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    ap.add_argument("--threads", type=_threads, default=None,
                    help="CPU threads for torch (default: every core this process may use, or PREIMAGE_THREADS; "
                         "--threads 1 on a machine shared with other busy processes)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for c in _ordered():
        p = sub.add_parser(c.name, help=c.help, description=c.help[0].upper() + c.help[1:] + ".",
                           epilog="example:\n  " + c.example, formatter_class=argparse.RawDescriptionHelpFormatter)
        c.options(p)
        if c.writes:
            p.add_argument("--force", action="store_true", help="replace outputs that exist (default: refuse)")
        p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output")
        p.add_argument("--threads", type=_threads, default=argparse.SUPPRESS, help="CPU threads for torch")
        p.set_defaults(func=c.run)
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    ap = build_parser()
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:  # usage errors (2), --help and --version (0)
        return int(e.code or 0)
    a.argv = list(sys.argv[1:] if argv is None else argv)  # for commands that record how they were run
    if not getattr(a, "func", None):
        ap.print_help()
        return 2
    progress.set_quiet(a.quiet)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(a.threads or default_threads())
    except ConfigError as e:
        print(f"preimage: error: {e}", file=sys.stderr)
        return 2
    try:
        a.func(a)
    except PreimageError as e:
        if not (e.shared and os.environ.get("RANK", "0") != "0"):  # torchrun: rank 0 says it
            print(f"preimage: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("preimage: interrupted", file=sys.stderr)
        return 130
    finally:
        torch.set_num_threads(threads)  # main() called in-process leaves the caller's setting
    return 0
