"""Acquisition layer: prediction-space scores, posterior samples and batch selection."""

from .samples import (
    ensemble_log_probs,
    function_log_probs,
    last_layer_gaussian_log_probs,
    mc_dropout_log_probs,
    to_log_probs,
    validate_log_probs,
)
from .scores import (
    BatchBALDResult,
    bald,
    batchbald,
    conditional_entropy,
    entropy,
    epig,
    information_gain,
    jepig,
    joint_entropy,
    joint_mutual_information,
    predictive_information_gain,
)
from .select import IncrementalObjective, Selection, greedy, stochastic_select, topk

__all__ = [
    "bald",
    "batchbald",
    "BatchBALDResult",
    "epig",
    "jepig",
    "information_gain",
    "predictive_information_gain",
    "joint_mutual_information",
    "joint_entropy",
    "entropy",
    "conditional_entropy",
    "ensemble_log_probs",
    "mc_dropout_log_probs",
    "last_layer_gaussian_log_probs",
    "function_log_probs",
    "to_log_probs",
    "validate_log_probs",
    "Selection",
    "IncrementalObjective",
    "topk",
    "greedy",
    "stochastic_select",
]
