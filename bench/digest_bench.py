"""Time ``forewarn digest send --dry-run`` as a process on a populated, scanned store (docs/peers.md).

The simulated region of ``bench/peers_bench.py`` (``--orgs``, ``--years``, ``--seed``; kept under ``--keep``) is
copied, scanned, given one analyst and a member for each of ``--members`` organisations, then the command runs as a
child process; its wall time, its CPU time (user + system, from the child's resource usage) and the load average
are printed, with how many messages it composed.

Run: .venv/bin/python bench/digest_bench.py [--orgs 400] [--years 3] [--seed 5] [--members 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from forewarn.store.database import make_engine
from forewarn.store.models import Organisation
from forewarn.store.models_web import Role, User
from forewarn.surveillance.scan import run_scan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=400)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    from peers_bench import populate

    folder = populate(
        (args.keep or Path(tempfile.mkdtemp())) / f"peers_{args.orgs}_{args.years}_{args.seed}",
        args.orgs,
        args.years,
        args.seed,
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "digest.db"
        shutil.copyfile(folder / "store.db", store)
        engine = make_engine(f"sqlite:///{store}")
        run_scan(engine, full=True)
        with engine.begin() as conn:
            ids = conn.execute(
                select(Organisation.id).order_by(Organisation.id).limit(args.members)
            ).scalars()
            rows = [
                {"email": f"member{i}@bench.forewarn", "role": Role.MEMBER, "organisation_id": int(i)}
                for i in ids
            ]
            rows.append({"email": "analyst@bench.forewarn", "role": Role.ANALYST, "organisation_id": None})
            conn.execute(
                insert(User),
                [{**r, "display_name": r["email"], "password_hash": "-", "is_active": True} for r in rows],
            )
        engine.dispose()
        env = {**os.environ, "FOREWARN_DATABASE_URL": f"sqlite:///{store}", "FOREWARN_DATA_DIR": tmp}
        forewarn = Path(sys.executable).with_name("forewarn")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [str(forewarn), "digest", "send", "--dry-run", "--json"], env=env, capture_output=True, check=True
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    messages = json.loads(done.stdout)["messages"]
    members = sum(1 for m in messages if m["kind"] == "member")
    print(
        f"forewarn digest send --dry-run on {args.orgs} organisations ({args.members} with a member, one analyst): "
        f"{members} member message(s), {len(messages) - members} analyst summary; "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU (user+sys), load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
