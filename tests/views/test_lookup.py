from __future__ import annotations

from sqlalchemy import Engine

from forewarn.views.lookup import organisation_codes, organisation_id_by_code
from tests.web.world import World


def test_codes_and_ids(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        assert organisation_id_by_code(conn, " OWN1 ") == world.ids["OWN"]
        assert organisation_id_by_code(conn, "NOPE") is None
        assert organisation_codes(conn, [world.ids["PEER"]]) == {world.ids["PEER"]: "PEER1"}
        assert organisation_codes(conn, []) == {}
