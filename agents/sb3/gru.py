"""A GRU policy for sb3-contrib's ``RecurrentPPO``.

``RecurrentPPO(GRURecurrentPolicy, env)`` runs RecurrentPPO with a GRU in place of the LSTM. The
state is carried as the LSTM's ``(h, c)`` pair (``c`` unused, kept at zero). Sequences with
episode starts inside go through the GRU in one call: each sequence is cut at its episode starts
into segments, the segments are packed (``pack_padded_sequence``) and run together, each from
the carried state or, after an episode start, from zeros (as RecurrentPPO resets its LSTM).
"""

from __future__ import annotations

from typing import Any

import torch as th
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from agents.sb3.recurrent import ReplacedRecurrentPolicy


class GRUModule(nn.Module):
    """
    A GRU that reads whole sequences with resets in one call.

    :param input_size: Size of the features
    :param hidden_size: Size of the hidden state
    :param num_layers: Number of stacked GRU layers
    :param kwargs: Further arguments of :class:`torch.nn.GRU` (not ``batch_first``)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs: Any):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.gru = nn.GRU(input_size, hidden_size, num_layers, batch_first=True, **kwargs)

    def forward(
        self, features: th.Tensor, h: th.Tensor, resets: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        :param features: ``(n_seq, T, input_size)``
        :param h: ``(num_layers, n_seq, hidden_size)`` state before each sequence
        :param resets: ``(n_seq, T)`` bool, where the state is zeroed before the step
        :return: ``(n_seq, T, hidden_size)`` top-layer outputs, and the last state
            ``(num_layers, n_seq, hidden_size)``
        """
        n_seq, T, _ = features.shape
        starts = resets.clone()
        starts[:, 0] = True
        flat_starts = starts.flatten()
        first = flat_starts.nonzero().squeeze(1)  # flat index of each segment's first step
        segment = flat_starts.long().cumsum(0) - 1  # segment of each step
        lengths = th.diff(first, append=first.new_tensor([n_seq * T]))
        position = th.arange(n_seq * T, device=features.device) - first[segment]
        padded = features.new_zeros(len(first), int(lengths.max()), features.shape[-1])
        padded[segment, position] = features.flatten(0, 1)
        keep = (~resets.flatten()[first]).to(h.dtype)  # carried state, or zeros after a start
        h0 = h[:, first // T] * keep[None, :, None]
        packed = pack_padded_sequence(padded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.gru(packed, h0.contiguous())
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=padded.shape[1])
        outputs = out[segment, position].view(n_seq, T, -1)
        last_segment = segment[th.arange(1, n_seq + 1, device=features.device) * T - 1]
        return outputs, h_n[:, last_segment]


class GRURecurrentPolicy(ReplacedRecurrentPolicy):
    """
    Recurrent actor-critic policy with a GRU, for ``RecurrentPPO``.

    Takes every argument of sb3-contrib's ``RecurrentActorCriticPolicy``,
    the LSTM ones applying to the GRU: ``lstm_hidden_size`` (its hidden size),
    ``n_lstm_layers`` (its layers) and ``lstm_kwargs`` (further :class:`torch.nn.GRU`
    arguments). Any observation space, with SB3's usual features extractor for it by default.
    """

    def _make_recurrent_module(self) -> GRUModule:
        return GRUModule(
            self.features_dim,
            self.lstm_output_dim,
            self.lstm_hidden_state_shape[0],
            **self.lstm_kwargs,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            lstm_hidden_size=self.lstm_output_dim,
            n_lstm_layers=self.lstm_hidden_state_shape[0],
            lstm_kwargs=self.lstm_kwargs,
        )
        return data

    @staticmethod
    def _process_sequence(
        features: th.Tensor,
        lstm_states: tuple[th.Tensor, th.Tensor],
        episode_starts: th.Tensor,
        lstm: GRUModule,
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        Run the GRU over whole sequences in one call, resetting at episode starts.

        :param features: ``(n_seq * T, F)`` features, sequence-major
        :param lstm_states: ``(h, c)``, each ``(layers, n_seq, H)``: the state before each
            sequence
        :param episode_starts: ``(n_seq * T,)`` where the state is zeroed before the step
        :param lstm: The GRU module
        :return: ``(n_seq * T, H)`` outputs, and the new ``(h, c)``
        """
        n_seq = lstm_states[0].shape[1]
        resets = episode_starts.reshape(n_seq, -1) > 0.5
        outputs, h = lstm(features.reshape(n_seq, resets.shape[1], -1), lstm_states[0], resets)
        return outputs.flatten(0, 1), (h, th.zeros_like(h))
