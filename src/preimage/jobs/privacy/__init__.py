"""Privacy leakage: decode embeddings, re-identify, infer attributes, and what a defence costs.

    from preimage.jobs.privacy import run_leakage, parse_defences
    r = run_leakage(load_model("refnet"), ["conv2", "fc6"], "private/", defences=parse_defences("noise:0.1,0.3"))
    preimage.report.save(r, "leakage-out")
"""

from .leakage import Attacker, Leakage, default_judge, measure, run_leakage, table_lines
from .measures import Defence, parse_defences, reidentify, similarity

__all__ = ["Attacker", "Defence", "Leakage", "default_judge", "measure", "parse_defences", "reidentify", "run_leakage",
           "similarity", "table_lines"]
