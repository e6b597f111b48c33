"""Each seed on one kind of machine (`whole_seeds=true`; issue 38).

A study resumed on another machine mixes machines within a seed: seed 0's baseline on one CPU and
its variant on another, so that seed's paired benefit carries the machines' difference (a few tenths
of a point at this budget). The sweep runs seed-major (every job of seed 0, then seed 1, ...), so a
study cut short holds whole seeds and a half-done one. With `whole_seeds=true`, a job trains only
where its seed is untouched or was begun on this machine's kind: a seed with a FINISHED job of the
experiment recorded on another kind of machine is left to that machine, and the job says so.

So a study resumed elsewhere finishes whole seeds there, and the report's within-machine check
(prepbench.report.machines) has whole seeds per machine to compare. To keep the whole study on one
machine kind instead, resume it only there; to balance it, give each machine its own seeds
(`seed=0,2,4` on one, `seed=1,3` on the other): docs/machines.md.
"""

from __future__ import annotations

from prepbench.track.machine import kind_of, this_kind


def seed_owner(client, exp_id: str, seed: int) -> str | None:
    """The other kind of machine that began `seed` in the experiment (a FINISHED job run of it
    recorded there), or None when the seed is untouched or this machine's kind has runs of it only."""
    runs = client.search_runs(
        [exp_id],
        f"params.seed = '{int(seed)}' and tags.`prepbench.role` = 'job' and attributes.status = 'FINISHED'",
        max_results=50_000,
    )
    here = this_kind()
    others = sorted({kind_of(r.data.tags) for r in runs} - {here, ""})
    return others[0] if others else None
