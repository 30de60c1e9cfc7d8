"""Hydra only instantiates sweepers defined under `hydra_plugins`; the logic lives in steerlab.sweeper."""

from steerlab.sweeper import DedupSweeperBase


class DedupSweeper(DedupSweeperBase):
    """`hydra/sweeper=steerlab`: the basic grid sweeper with de-duplication by effective-config identity."""
