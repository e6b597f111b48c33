import pandas as pd

from prepbench.pilot import decide


def curves(runs):
    return pd.DataFrame(
        [dict(net=net, budget=len(acc), epoch=e + 1, val_accuracy=a) for net, acc in runs for e, a in enumerate(acc)]
    )


def test_the_smallest_budget_enough_for_every_net_is_chosen():
    table, chosen = decide(
        curves(
            [
                ("shallow", [0.3, 0.50, 0.55, 0.56]),  # 4 epochs: plateau? last 3 within 0.5 pp: no
                ("shallow", [0.3, 0.5, 0.58, 0.600, 0.601, 0.600]),  # 6: plateaued, final best
                ("deep", [0.3, 0.5, 0.60, 0.61]),  # 4: not plateaued
                ("deep", [0.3, 0.5, 0.6, 0.620, 0.621, 0.619]),  # 6: plateaued
            ]
        ),
        window=3,
        tolerance=0.005,
    )
    assert chosen == 6
    assert not table.set_index(["net", "budget"]).loc[("shallow", 4), "enough"]


def test_a_plateau_well_below_a_longer_budget_is_not_enough():
    table, chosen = decide(
        curves(
            [
                ("shallow", [0.5, 0.50, 0.50, 0.50]),  # plateaued at 50%
                ("shallow", [0.5, 0.55, 0.60, 0.61, 0.61, 0.61]),  # a longer run gets 11 pp more
            ]
        ),
        window=3,
        tolerance=0.005,
    )
    assert chosen == 6
    assert not table.set_index("budget").loc[4, "enough"]


def test_no_budget_enough_says_so():
    _, chosen = decide(curves([("deep", [0.3, 0.4, 0.5, 0.6])]), window=3, tolerance=0.005)
    assert chosen is None
