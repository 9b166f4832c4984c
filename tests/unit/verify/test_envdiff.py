"""What differs between two runs' records: environment, code, params and seeds, not times."""

from __future__ import annotations

from pedigree.lineage.record import Code, Environment, LineageRecord
from pedigree.verify.envdiff import differences


def _record(**changes: object) -> LineageRecord:
    env = Environment(
        python="3.11.7",
        implementation="CPython",
        platform="Linux",
        machine="x86_64",
        cpu_count=2,
        lock={"path": "images/t/requirements.lock", "sha256": "a" * 64},
        packages={"numpy": "2.4.6"},
        threads={"intra_op_threads": 2},
        determinism={"PYTHONHASHSEED": "0"},
    )
    base = LineageRecord(
        stage="t",
        run_id="r1",
        started="2026-01-01T00:00:00Z",
        ended="2026-01-01T00:01:00Z",
        argv=["python"],
        cmd="c",
        exit_code=0,
        status="succeeded",
        params={"t": {"lr": 0.1}},
        inputs=[],
        outputs=[],
        code=Code(
            git_commit="c1",
            git_dirty=False,
            folders={"stages/t": "x.dir"},
            pedigree_version="0.1.0",
        ),
        environment=env,
        seeds={"PYTHONHASHSEED": "0"},
    )
    return base.model_copy(update=changes)


def test_same_setup_no_differences_even_with_other_times_and_commits() -> None:
    other = _record(
        run_id="r2",
        started="2027-01-01T00:00:00Z",
        code=_record().code.model_copy(update={"git_commit": "c2"}),
    )
    assert differences(_record(), other) == []


def test_each_changed_setting_is_listed() -> None:
    env = _record().environment.model_copy(
        update={"packages": {"numpy": "2.5.0"}, "threads": {"intra_op_threads": 1}}
    )
    changed = _record(environment=env, params={"t": {"lr": 0.2}})
    found = {(d.key, d.recorded, d.now) for d in differences(_record(), changed)}
    assert found == {
        ("environment.packages.numpy", "2.4.6", "2.5.0"),
        ("environment.threads.intra_op_threads", 2, 1),
        ("params.t.lr", 0.1, 0.2),
    }
