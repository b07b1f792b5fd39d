"""Stable-Baselines3 plug-ins of the boolean RNN.

- :class:`BooleanRNNExtractor` with :class:`TokenHistoryWrapper`: a features extractor for any
  SB3 algorithm (PPO, A2C, DQN).
- :class:`BooleanRecurrentPolicy`: the recurrent policy of sb3-contrib's ``RecurrentPPO``.
- :class:`PredictorPolicy`: a supervised boolean RNN as a policy for ``evaluate_policy``.
"""

from agents.sb3.extractor import BooleanRNNExtractor, TokenHistoryWrapper
from agents.sb3.predictor import PredictorPolicy
from agents.sb3.recurrent import BooleanRecurrentModule, BooleanRecurrentPolicy

__all__ = [
    "BooleanRNNExtractor",
    "BooleanRecurrentModule",
    "BooleanRecurrentPolicy",
    "PredictorPolicy",
    "TokenHistoryWrapper",
]
