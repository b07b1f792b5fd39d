"""POPGym adapters: info["target"] on scored steps only, POPGym's returns, the generic rollouts."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import popgym  # noqa: F401  (registers popgym-* ids)
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import memgym
from memgym import SupervisedRollout, batch_rollouts
from memgym.popgym_adapters import make_popgym
from memgym.presets import POPGYM_IDS
from memgym.rollouts import act_token

pytestmark = pytest.mark.filterwarnings("ignore")  # POPGym trips the passive checker


def play(env: gym.Env, seed: int, policy) -> tuple[float, int, int]:
    """One episode: (return, steps, steps with a target)."""
    _, info = env.reset(seed=seed)
    total, steps, scored, done = 0.0, 0, 0, False
    while not done:
        scored += "target" in info
        _, reward, terminated, truncated, info = env.step(policy(info))
        total += float(reward)
        steps += 1
        done = terminated or truncated
    assert "target" not in info
    return total, steps, scored


@pytest.mark.parametrize("env_id", POPGYM_IDS)
def test_answering_the_target_earns_popgyms_best_return(env_id):
    for seed in range(3):
        total, steps, scored = play(gym.make(env_id), seed, lambda info: info.get("target", 0))
        assert total == pytest.approx(1.0)
        env = gym.make(env_id).unwrapped
        if "RepeatPrevious" in env_id:
            assert scored == steps - env.k + 1
        else:
            assert scored == steps


@pytest.mark.parametrize("env_id", POPGYM_IDS)
def test_a_random_policy_scores_as_on_popgyms_own_env(env_id):
    own_id = env_id.replace("memgym/POPGym-", "popgym-")
    returns = []
    for make in (env_id, own_id):
        env = gym.make(make)
        actions = env.action_space
        actions.seed(0)
        returns.append(
            [play(env, seed, lambda info, a=actions: a.sample())[0] for seed in range(5)]
        )
    assert returns[0] == returns[1]  # same seeds, same actions: the very same episodes


@pytest.mark.parametrize("env_id", POPGYM_IDS)
def test_popgym_ids_pass_gymnasium_checker(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POPGym's own spaces and dtypes warn; unchanged here
        name = env_id.removeprefix("memgym/POPGym-").removesuffix("-v0")
        level = next(level for level in ("Easy", "Medium", "Hard") if name.endswith(level))
        check_env(make_popgym(name.removesuffix(level), level))


def test_rollouts_mask_unscored_steps_and_index_multidiscrete():
    rollouts = batch_rollouts("memgym/POPGym-RepeatPreviousEasy-v0", 3, seed=0)
    k = 4
    assert (~rollouts.mask[:, : k - 1]).all() and rollouts.mask[:, k - 1 : 51].all()
    assert rollouts.lengths.tolist() == [51] * 3
    counts = batch_rollouts("memgym/POPGym-CountRecallMedium-v0", 2, seed=1)
    assert counts.act.max() < 16 and len(counts.act_tokens) == 16
    assert counts.mask[:, :103].all()


def test_mixed_radix_index():
    space = spaces.MultiDiscrete([3, 4, 5])
    tokens = {act_token(np.array(x), space) for x in np.ndindex(3, 4, 5)}
    assert tokens == set(range(60))
    assert act_token(np.array([2, 1, 3]), space) == (2 * 4 + 1) * 5 + 3


def test_supervised_rollout_records_no_obs_where_unscored():
    act, obs = SupervisedRollout(gym.make("memgym/POPGym-RepeatPreviousEasy-v0")).episode(seed=0)
    assert len(act) == len(obs) == 52
    assert obs[:4].tolist() == [memgym.NO_OBS] * 4 and (obs[4:] >= 0).all()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize(
    "env_id", ["memgym/POPGym-RepeatPreviousEasy-v0", "memgym/POPGym-CountRecallEasy-v0"]
)
def test_popgym_rollouts_train_the_recurrent_baselines(cell, env_id):
    torch = pytest.importorskip("torch")
    from agents.baselines import RecurrentBaseline

    torch.manual_seed(0)
    rollouts = batch_rollouts(env_id, 16, seed=0)
    model = RecurrentBaseline(cell, len(rollouts.act_tokens), len(rollouts.obs_tokens), 16)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    act = torch.as_tensor(rollouts.act)
    target = torch.as_tensor(rollouts.target)
    mask = torch.as_tensor(rollouts.mask)
    losses = []
    for _ in range(5):
        logits = model(act)
        loss = torch.nn.functional.cross_entropy(logits[mask], target[mask])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_scored_hits_count_steps_and_whole_episodes():
    torch = pytest.importorskip("torch")
    from agents.evaluate import scored_hits

    rollouts = batch_rollouts("memgym/POPGym-RepeatPreviousEasy-v0", 4, seed=0)
    guess = rollouts.target.copy()
    guess[0, 10] = (guess[0, 10] + 1) % 4  # a scored step wrong: episode 0 is wrong
    guess[1, 0] = (guess[1, 0] + 1) % 4  # an unscored step: does not count

    class Replay(torch.nn.Module):
        def forward(self, act):
            return torch.nn.functional.one_hot(torch.as_tensor(guess), 4).float()

    steps, scored, episodes = scored_hits(Replay(), rollouts, torch.device("cpu"))
    assert scored == int(rollouts.mask.sum()) == 4 * 48
    assert steps == scored - 1
    assert episodes == 3


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_agents_train_runs_on_a_popgym_adapter(model):
    pytest.importorskip("torch")
    from agents.train import TrainConfig, train

    config = TrainConfig(
        env_id="memgym/POPGym-RepeatPreviousEasy-v0",
        model=model,
        state_dim=8,
        steps=4,
        batch_size=8,
    )
    result = train(config, progress=False)
    assert len(result.loss) == 4 and all(np.isfinite(result.loss))
