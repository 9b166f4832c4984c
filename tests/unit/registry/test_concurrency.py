"""Six processes release at the same moment: no lost or duplicated versions, one champion.

Each worker is a separate Python process (SQLite locks are per process, so threads would prove
less). They meet at a file barrier, then all call Registry(root).release() at once on a registry
none of them has opened before; the gate sleeps while it holds the write lock, which widens the
window in which an unserialised read-decide-write would interleave.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pedigree.registry.store import Registry
from tests.unit.registry.test_store import SPLIT_A, make_candidate

WORKERS = 6
SCORES = {b"model-0": 0.40, b"model-1": 0.70, b"model-2": 0.55, b"model-3": 0.65}
# four distinct models plus two more releases of the best one
CONTENTS = [b"model-0", b"model-1", b"model-2", b"model-3", b"model-1", b"model-1"]

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from pedigree.registry.records import Candidate, GateDecision, Reason
    from pedigree.registry.store import Registry

    root, spec, barrier, index, count = sys.argv[1:6]
    fields = json.loads(Path(spec).read_text())
    fields["model_path"] = Path(fields["model_path"])
    fields["calibration_path"] = Path(fields["calibration_path"])
    candidate = Candidate(**fields)
    barrier = Path(barrier)
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + 30
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("barrier timed out")
        time.sleep(0.001)

    def decide(challenger, champion):
        time.sleep(0.05)  # hold the write lock a while: racing writers must wait, not interleave
        split = challenger.test_split_sha256
        if champion is None:
            return GateDecision(True, (Reason("champion/challenger", True, "first"),))
        if champion.version == challenger.version:
            return GateDecision(True, (Reason("champion/challenger", True, "already"),))
        mine = challenger.scores[split]["mean_iou"]
        theirs = champion.scores[split]["mean_iou"]
        ok = mine > theirs
        return GateDecision(ok, (Reason("champion/challenger", ok, f"{mine} vs {theirs}"),))

    outcome = Registry(Path(root), timeout=30).release(candidate, decide, actor=f"w{index}")
    print(json.dumps(outcome.to_dict()))
    """
)


def test_simultaneous_releases_serialise(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = []
    for index, content in enumerate(CONTENTS):
        candidate = make_candidate(tmp_path / f"w{index}", content, SCORES[content])
        spec = tmp_path / f"w{index}.json"
        fields = {**candidate.__dict__}
        fields["model_path"] = str(candidate.model_path)
        fields["calibration_path"] = str(candidate.calibration_path)
        spec.write_text(json.dumps(fields), encoding="utf-8")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(root), str(spec), str(barrier), str(index)]
                + [str(WORKERS)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 30
    while len(list(barrier.glob("ready-*"))) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.01)
    (barrier / "go").touch()
    results = [p.communicate(timeout=60) for p in procs]

    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    outcomes = [json.loads(out) for out, _ in results]

    registry = Registry(root)
    versions = registry.versions()
    assert [v.version for v in versions] == [1, 2, 3, 4]
    shas = sorted(v.model_sha256 for v in versions)
    expected = sorted({make_candidate(tmp_path / "x", c).model_sha256 for c in CONTENTS})
    assert shas == expected  # each model exactly once
    assert sum(o["newly_registered"] for o in outcomes) == 4

    events = registry.history()
    decisions = [e for e in events if e.kind in ("promoted", "rejected")]
    assert len(decisions) == WORKERS  # one decision per release, none lost
    assert len([e for e in events if e.kind == "registered"]) == 4
    assert sorted(e.actor for e in decisions) == sorted(f"w{i}" for i in range(WORKERS))

    champions = [v for v in versions if v.status == "champion"]
    assert len(champions) == 1
    # every decision saw the real champion, so the best model must have ended up champion
    best = make_candidate(tmp_path / "x", b"model-1").model_sha256
    assert champions[0].model_sha256 == best
    assert champions[0].scores[SPLIT_A]["mean_iou"] == 0.70
    # each decision was made against the champion left by the decision just before it
    champion: int | None = None
    for event in decisions:
        assert event.previous_champion == champion
        if event.kind == "promoted":
            champion = event.version
