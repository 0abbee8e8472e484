"""Privacy leakage from shared gradients: what a federated-learning server rebuilds from one update.

    from preimage.jobs.gradients import AttackSettings, parse_defenses, run_gradient_leakage
    r = run_gradient_leakage(load_model("lenet-zhu"), "private/", n=8, settings=AttackSettings("ig", iters=3000),
                             defenses=parse_defenses("prune:0.9|dpsgd:1/0.1"), public="public/")
    preimage.report.save(r, "gradient-leakage-out")
"""

from .attacks import AttackSettings, Attempt, attack, count_rule, dlg, invert_gradients, recover_labels
from .client import Client, PerExample, bn_mode
from .defenses import NONE, Defense, parse_defenses
from .leakage import GradientLeakage, run_gradient_leakage, table_lines
from .measures import Reidentify, label_hits, match
from .utility import SmallNet, UtilitySettings, load_public, train_with, utilities

__all__ = ["NONE", "AttackSettings", "Attempt", "Client", "Defense", "GradientLeakage", "PerExample", "Reidentify",
           "SmallNet", "UtilitySettings", "attack", "bn_mode", "count_rule", "dlg", "invert_gradients", "label_hits",
           "load_public", "match", "parse_defenses", "recover_labels", "run_gradient_leakage", "table_lines",
           "train_with", "utilities"]
