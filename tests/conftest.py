"""Fixtures shared by every test."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def sb3_log_folder(tmp_path_factory):
    """SB3's ``learn`` makes a logger folder ``SB3-<date>`` in the system's temp folder unless
    ``SB3_LOGDIR`` names one: point it into pytest's temp folder, which pytest cleans up."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3-logs")))
        yield
