"""Privacy leakage: decode embeddings, re-identify, infer attributes, and what a defense costs.

    from preimage.jobs.privacy import run_leakage, parse_defenses
    r = run_leakage(load_model("refnet"), ["conv2", "fc6"], "private/", defenses=parse_defenses("noise:0.1,0.3"))
    preimage.report.save(r, "leakage-out")
"""

from .leakage import Attacker, Leakage, default_judge, measure, run_leakage, table_lines
from .measures import Defense, parse_defenses, reidentify, similarity

__all__ = ["Attacker", "Defense", "Leakage", "default_judge", "measure", "parse_defenses", "reidentify", "run_leakage",
           "similarity", "table_lines"]
