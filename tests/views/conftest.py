from __future__ import annotations

import pytest
from sqlalchemy import Engine

from forewarn.access.policy import Visibility
from tests.web.world import World, build_world


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def member_visibility(world: World) -> Visibility:
    """What the world's member sees: their own trust by name, the granted peer as "Peer 1"."""
    return Visibility(all_organisations=False, own=world.ids["OWN"], peers={world.ids["PEER"]: "Peer 1"})
