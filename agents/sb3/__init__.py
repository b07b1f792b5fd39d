"""Stable-Baselines3 plug-ins of the boolean RNN, for any observation space.

- :class:`BooleanRNNExtractor` with :class:`TokenHistoryWrapper`: a features extractor for any
  SB3 algorithm (PPO, A2C, DQN).
- :class:`BooleanRecurrentPolicy`: the recurrent policy of sb3-contrib's ``RecurrentPPO``.
- :class:`GRURecurrentPolicy`: a GRU for ``RecurrentPPO``, whole sequences in one call.
- :class:`PredictorPolicy`: a supervised boolean RNN as a policy for ``evaluate_policy``.
"""

from agents.sb3.extractor import BooleanRNNExtractor
from agents.sb3.gru import GRURecurrentPolicy
from agents.sb3.history import TokenHistoryWrapper
from agents.sb3.predictor import PredictorPolicy
from agents.sb3.recurrent import BooleanRecurrentModule, BooleanRecurrentPolicy

__all__ = [
    "BooleanRNNExtractor",
    "BooleanRecurrentModule",
    "BooleanRecurrentPolicy",
    "GRURecurrentPolicy",
    "PredictorPolicy",
    "TokenHistoryWrapper",
]
