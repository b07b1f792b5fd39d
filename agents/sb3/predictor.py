"""A supervised boolean RNN used as an SB3 policy.

In memgym the agent's action is its guess of the next obs token, so a sequence predictor is a
policy: it acts on its prediction, and an exact predictor earns the maximum return.
:class:`PredictorPolicy` gives it SB3's ``predict`` signature, so that
``stable_baselines3.common.evaluation.evaluate_policy(PredictorPolicy(model, env), env)``
scores it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from agents.model import BooleanRNN


class PredictorPolicy:
    """
    SB3-style ``predict`` around a trained :class:`BooleanRNN`.

    The recurrent state is an ``(n_envs, D)`` array, reset to the model's initial state where
    ``episode_start`` is true. The model is put in evaluation mode (no parameter noise).

    :param model: A boolean RNN whose act tokens are the env's observations and whose obs
        tokens are the env's actions
    :param env: The env (or ``VecEnv``) it will play, to check that its observation and action
        spaces are ``Discrete`` with the model's token counts; ``None`` skips the check
    :raises TypeError: When ``model`` is not a :class:`BooleanRNN`
    :raises ValueError: When ``env``'s spaces do not match the model's tokens
    """

    def __init__(self, model: BooleanRNN, env: Any = None) -> None:
        if not isinstance(model, BooleanRNN):
            raise TypeError(
                "PredictorPolicy plays a trained BooleanRNN (agents.train.train(...).model, or "
                f"agents.checkpoint.load_checkpoint(path)[0]), got {type(model).__name__}"
            )
        if env is not None:
            for name, space, tokens, of in (
                ("observation", env.observation_space, model.num_act_tokens, "act"),
                ("action", env.action_space, model.num_obs_tokens, "obs"),
            ):
                if not isinstance(space, spaces.Discrete) or space.n != tokens:
                    raise ValueError(
                        f"PredictorPolicy: the env's {name} space must be Discrete({tokens}), "
                        f"the model's {of} tokens, got {space}: a predictor trained on another "
                        "task would play it wrong"
                    )
        self.model = model

    def predict(
        self,
        observation: np.ndarray | int,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        Read one token per environment and name the predicted next obs token.

        :param observation: Token, or ``(n_envs,)`` tokens
        :param state: ``(n_envs, D)`` state from the previous call; ``None`` starts new episodes
        :param episode_start: ``(n_envs,)`` whether each token starts a new episode
        :param deterministic: Take the most likely token; otherwise sample from the softmax
        :return: The action(s) and the next state
        """
        tokens = np.asarray(observation)
        if not np.issubdtype(tokens.dtype, np.integer) or tokens.ndim > 1:
            raise ValueError(
                "PredictorPolicy reads one Discrete token per env (an int, or int (n_envs,)), "
                f"got {tokens.dtype} {tokens.shape}"
            )
        vectorized = tokens.ndim > 0
        tokens = tokens.reshape(-1)
        if state is None:
            episode_start = np.ones(len(tokens), dtype=bool)
        elif episode_start is None:
            episode_start = np.zeros(len(tokens), dtype=bool)
        self.model.eval()
        device = next(self.model.parameters()).device
        with th.no_grad():
            x = (
                self.model.initial_state(len(tokens)).to(device)
                if state is None
                else th.as_tensor(state, dtype=th.float32, device=device)
            )
            states = self.model.scan_states(
                th.as_tensor(tokens, dtype=th.int64, device=device)[:, None],
                x,
                th.as_tensor(episode_start, dtype=th.bool, device=device).reshape(-1, 1),
            )
            logits = self.model.readout(states[:, -1])
            if deterministic:
                actions = logits.argmax(dim=-1)
            else:
                actions = th.distributions.Categorical(logits=logits).sample()
        actions_np = actions.cpu().numpy()
        return (actions_np if vectorized else actions_np[0]), states[:, -1].cpu().numpy()
