"""Verbs of data: ``make-shards``."""

from __future__ import annotations

from ..data import make_shards, shard_pattern
from .common import command, positive


def _shards_options(p):
    p.add_argument("folder", metavar="DIR", help="image folder (searched recursively; root/<class>/... records the class)")
    p.add_argument("--out", required=True, help="shard prefix: PREFIX-000000.tar, PREFIX-000001.tar, ...")
    p.add_argument("--per-shard", type=positive("--per-shard"), default=10000, help="images per shard (default 10000)")


@command("make-shards", "write an image folder as WebDataset tar shards (for --data on many machines)",
         "preimage make-shards ../shared/data/cifar10/train --out shards/cifar-train --per-shard 5000", _shards_options)
def cmd_make_shards(a):
    paths = make_shards(a.folder, a.out, a.per_shard, force=a.force)
    print(f"wrote {len(paths)} shard(s): --data '{shard_pattern(paths)}'")
