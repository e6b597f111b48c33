"""prepbench.report.machines: the report names its machines, flags a machine confounded with a
level, and repeats the paired analysis within each machine."""

import pandas as pd

from prepbench.report import analysis, document, machines
from prepbench.report.select import Spec, select
from tests._report_runs import frame, grid

INTEL = "Intel(R) Xeon(R) Processor x2; no GPU"
AMD = "AMD EPYC x2; no GPU"


def ladder(machine_of_depth) -> pd.DataFrame:
    rows = []
    for depth in (1, 2, 4, 8):
        part = grid(["none", "augment"], nets=("deep",), seeds=range(3), depth=depth, overrides=(f"net.depth={depth}",))
        for row in part:
            row["tags.prepbench.hardware"] = machine_of_depth(depth, row["params.seed"])
        rows += part
    return frame(rows)


def test_a_depth_run_on_one_machine_alone_is_flagged_with_the_cells_per_machine_and_the_slopes_per_machine():
    runs = ladder(lambda depth, seed: INTEL if depth in (2, 8) else AMD)  # as the converged depth ladder
    a = analysis.analyse(select(runs, Spec(moderator="net.depth")), {}, "ladder")
    text = document.build(a, "a test", [], "cmd").markdown()
    assert "The cells ran on 2 kinds of machine: AMD EPYC 12; Intel(R) Xeon(R) Processor 12" in text
    assert "The machine is confounded with `net.depth`: `depth=1` ran wholly on AMD EPYC (6 cells); " in text
    assert "`depth=2` ran wholly on Intel(R) Xeon(R) Processor (6 cells)" in text
    assert "### Sensitivity: each machine alone" in text
    table = machines.within_machine(a)
    amd_slope = table[(table["machine"] == "AMD EPYC") & table["moderator"].str.startswith("slope")]
    assert amd_slope["moderator"].tolist() == ["slope per doubling (depth=1, depth=4)"]
    assert "Slopes per machine (AMD EPYC / Intel(R) Xeon(R) Processor, pp per doubling): `augment` " in text


def test_one_machine_or_a_balanced_mix_raises_no_machine_caveat():
    one = analysis.analyse(select(ladder(lambda d, s: AMD), Spec(moderator="net.depth")), {}, "ladder")
    text = document.build(one, "a test", [], "cmd").markdown()
    assert "All 24 cells ran on one kind of machine: AMD EPYC." in text
    assert "confounded" not in text and "Sensitivity: each machine alone" not in text
    # whole seeds per machine (seed 0 on Intel, 1 and 2 on AMD): every depth has both, nothing confounded
    balanced = analysis.analyse(
        select(ladder(lambda d, s: INTEL if s == "0" else AMD), Spec(moderator="net.depth")), {}, "ladder"
    )
    assert machines.confounding(balanced) == []


def test_a_seed_whose_variant_and_baseline_ran_on_two_machines_is_named():
    runs = ladder(lambda d, s: AMD)
    runs.loc[(runs["params.prep"] == "augment") & (runs["params.seed"] == "0"), "tags.prepbench.hardware"] = INTEL
    a = analysis.analyse(select(runs, Spec(moderator="net.depth")), {}, "ladder")
    caveats = " ".join(machines.confounding(a))
    assert "4 paired benefits mix machines" in caveats
    assert "`augment` at `depth=1` seed 0" in caveats
