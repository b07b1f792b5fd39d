"""Fixtures shared by the agents tests."""

import pytest
import torch as th


@pytest.fixture
def one_thread():
    """Run the test on one torch thread (SB3's small networks run fastest so, and xdist workers
    do not compete), then restore the count."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)
