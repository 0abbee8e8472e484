"""Backward rules as context managers (plain gradient, leaky surrogate, DeconvNet, guided backprop)."""

from .relu import RULES, RuleState, relu_rule

__all__ = ["RULES", "RuleState", "relu_rule"]
