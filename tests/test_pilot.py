import pandas as pd
import pytest

from prepbench.study.pilot import decide


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


def test_main_writes_the_report_table_and_figure(tmp_path, monkeypatch, capsys):
    from prepbench.study import pilot

    runs = [("shallow", [0.3, 0.5, 0.58, 0.600, 0.601, 0.600]), ("deep", [0.3, 0.5, 0.6, 0.620, 0.621, 0.619])]
    monkeypatch.setattr(pilot, "load_curves", lambda uri, experiment: curves(runs))
    out = tmp_path / "out"
    assert pilot.main(["--experiment", "p", "--tracking-uri", "sqlite:///x.db", "--out", str(out)]) == 0
    text = (out / "pilot.md").read_text()
    assert text.startswith("# Pilot: how many epochs\n\nProduced by `python -m prepbench.pilot --experiment p ")
    assert (
        "| net | epochs | best val % | final val % | plateaued | enough |\n"
        "|---|---:|---:|---:|---|---|\n"
        "| deep | 6 | 62.10 | 61.90 | True | True |\n"
        "| shallow | 6 | 60.10 | 60.00 | True | True |\n\n"
        "**Chosen: 6 epochs.**\n\n"
        "![validation curves](curves.png)\n"
    ) in text
    assert text.endswith("(curves.png)\n")
    assert list(pd.read_csv(out / "pilot.csv").columns) == ["net", "budget", "best", "final", "plateaued", "enough"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "pilot.csv", "pilot.md"]  # no temporary left
    assert capsys.readouterr().out == "chosen: 6 epochs\n"


def finals(rows, plateaued=True):
    return pd.DataFrame(
        [dict(net=n, value=v, seed=s, val_accuracy=a, train_accuracy=1.0, plateaued=plateaued) for n, v, s, a in rows],
    )


def test_the_value_with_the_best_mean_over_seeds_then_nets_is_chosen():
    from prepbench.study.pilot import choose

    table, chosen = choose(
        finals(
            [
                ("shallow", 0.01, 0, 0.60),
                ("shallow", 0.01, 1, 0.62),
                ("deep", 0.01, 0, 0.50),
                ("deep", 0.01, 1, 0.52),  # score (0.61 + 0.51) / 2 = 0.56
                ("shallow", 0.1, 0, 0.58),
                ("shallow", 0.1, 1, 0.58),
                ("deep", 0.1, 0, 0.56),
                ("deep", 0.1, 1, 0.56),  # score 0.57: the best though never best on the shallow net
            ]
        )
    )
    assert chosen == 0.1
    assert table.set_index("value").loc[0.01, "score"] == pytest.approx(0.56)
    assert table.set_index("value").loc[0.1, "seeds_deep"] == 2


def test_choose_writes_its_table_and_figure_and_refuses_a_key_the_runs_lack(tmp_path, monkeypatch, capsys):
    from prepbench.study import pilot

    rows = [(n, v, s, 0.5 + v / 10 + s / 100) for n in ("shallow", "deep") for v in (0.01, 1.0) for s in (0, 1)]
    monkeypatch.setattr(pilot, "load_finals", lambda uri, experiment, key: finals(rows))
    out = tmp_path / "out"
    args = [
        "--experiment",
        "p",
        "--tracking-uri",
        "sqlite:///x.db",
        "--out",
        str(out),
        "--choose",
        "prep.zca_shrinkage",
    ]
    assert pilot.main(args) == 0
    assert capsys.readouterr().out == "chosen: prep.zca_shrinkage=1\n"
    text = (out / "pilot.md").read_text()
    assert "| prep.zca_shrinkage | deep val % (sd, seeds) | shallow val % (sd, seeds) |" in text
    assert "| 1 | 60.50 (±0.71, 2) | 60.50 (±0.71, 2) | 100.0 | 100.0 | 60.50 | 4/4 |" in text
    assert "within 0.5 pp of its best validation accuracy): 4 of the chosen value's 4 runs have plateaued." in text
    assert (out / "choice.png").stat().st_size > 0


def test_choose_says_when_the_chosen_values_runs_have_not_plateaued(tmp_path, monkeypatch):
    from prepbench.study import pilot

    rows = [(n, v, s, 0.5 + v / 10) for n in ("shallow", "deep") for v in (0.01, 1.0) for s in (0, 1)]
    table = finals(rows, plateaued=False)
    table.loc[0, "plateaued"] = True  # one run of the value not chosen
    monkeypatch.setattr(pilot, "load_finals", lambda uri, experiment, key: table)
    out = tmp_path / "out"
    assert (
        pilot.main(["--experiment", "p", "--tracking-uri", "sqlite:///x.db", "--out", str(out), "--choose", "k"]) == 0
    )
    text = (out / "pilot.md").read_text()
    assert "| 0.01 |" in text and "| 1/4 |" in text
    assert "0 of the chosen value's 4 runs have plateaued, so its budget may be short of the plateau." in text


def test_the_plateau_rule_is_the_epoch_pilots():
    from prepbench.study.pilot import plateaued

    assert plateaued([0.50, 0.600, 0.598, 0.596, 0.599])  # last 3 within 0.5 pp of the best
    assert not plateaued([0.50, 0.600, 0.598, 0.594, 0.599])  # 0.594 is 0.6 pp below
    assert not plateaued([0.60, 0.60])  # fewer epochs than the window


def test_a_pilot_stopped_part_way_is_refused_not_scored_on_fewer_seeds():
    from prepbench.study.pilot import PrepbenchError, complete

    rows = [(n, v, s, 0.5) for n in ("shallow", "deep") for v in (1.0, 10.0) for s in (0, 1, 2)]
    complete(finals(rows), "prep.zca_shrinkage")
    short = finals([r for r in rows if not (r[0] == "deep" and r[1] == 10.0 and r[2] == 2)])
    with pytest.raises(PrepbenchError) as err:
        complete(short, "prep.zca_shrinkage")
    assert str(err.value).startswith(
        "pilot incomplete: prep.zca_shrinkage=10 on deep has FINISHED seeds [0, 1]; expected seeds [0, 1, 2]"
    )


def test_a_pilot_is_refused_until_every_value_seed_and_net_its_experiment_file_sweeps_has_run():
    from prepbench.study.pilot import PrepbenchError, complete, planned

    grid = planned("converged-resnet-pilot")
    assert (grid["seed"], grid["net"]) == (["0", "1", "2"], ["resnet"])
    assert [float(v) for v in grid["trainer.lr"]] == [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    assert planned("no-such-pilot") is None
    rows = [("resnet", v, s, 0.5) for v in (1e-3, 3e-3) for s in (0, 1)]
    complete(finals(rows), "trainer.lr", {"seed": ["0", "1"], "trainer.lr": ["0.001", "0.003"]})
    two_nets = {"seed": ["0", "1"], "net": ["deep", "resnet"], "trainer.lr": ["1e-3", "3e-3"]}
    with pytest.raises(
        PrepbenchError, match="trainer.lr=0.001 seed 0 on deep has no FINISHED run, and 3 more of the 8"
    ):
        complete(finals(rows), "trainer.lr", two_nets)
    complete(finals(rows), "trainer.lr", {"seed": ["0", "1", "2"]})  # the key not swept there: seeds only
    # every value it has shares its seeds, but the file sweeps more: the first missing, in sweep order
    with pytest.raises(PrepbenchError) as err:
        complete(finals(rows), "trainer.lr", {"seed": ["0", "1", "2"], "trainer.lr": ["0.001", "0.003", "0.01"]})
    assert str(err.value).startswith(
        "pilot incomplete: trainer.lr=0.01 seed 0 on resnet has no FINISHED run, and 4 more of the 9 runs"
    )


def test_the_epoch_pilot_is_refused_until_every_net_has_every_budget_its_file_sweeps(tmp_path, monkeypatch):
    import mlflow

    from prepbench.study import pilot

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.create_experiment("converged-pilot")  # its experiment file sweeps 10, 20, 30 epochs
    for net in ("shallow", "deep"):
        for budget in (10, 20):
            run = client.create_run(exp).info.run_id
            for key, value in (("prep", "none"), ("net", net), ("seed", 0), ("trainer.epochs", budget)):
                client.log_param(run, key, value)
            for epoch in range(1, budget + 1):
                client.log_metric(run, "val_accuracy", 0.6, step=epoch)
            client.set_terminated(run)
    with pytest.raises(pilot.PrepbenchError, match="pilot incomplete: shallow at trainer.epochs=30 has no FINISHED"):
        pilot.load_curves(uri, "converged-pilot")
    monkeypatch.setattr(pilot, "planned", lambda experiment: None)  # no experiment file: what ran is read as is
    assert set(pilot.load_curves(uri, "converged-pilot").budget) == {10, 20}


def test_choose_names_the_missing_param(tmp_path):
    import mlflow

    from prepbench.study import pilot

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.create_experiment("p")
    run = client.create_run(exp)
    for key, value in (("prep", "zca"), ("net", "deep"), ("seed", "0")):
        client.log_param(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    with pytest.raises(pilot.PrepbenchError, match="has no param prep.zca_shrinkage; expected a key the pilot varies"):
        pilot.load_finals(uri, "p", "prep.zca_shrinkage")


def test_load_finals_reads_each_runs_plateau_from_its_validation_curve(tmp_path):
    import mlflow

    from prepbench.study import pilot

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.create_experiment("p")
    for seed, curve in ((0, [0.5, 0.6, 0.6, 0.6]), (1, [0.4, 0.5, 0.55, 0.6])):
        run = client.create_run(exp).info.run_id
        for key, value in (("prep", "none"), ("net", "resnet"), ("seed", seed), ("trainer.lr", 0.001)):
            client.log_param(run, key, value)
        for epoch, acc in enumerate(curve, start=1):
            client.log_metric(run, "val_accuracy", acc, step=epoch)
        client.set_terminated(run)
    finals = pilot.load_finals(uri, "p", "trainer.lr").set_index("seed")
    assert finals.loc[0, "plateaued"] and not finals.loc[1, "plateaued"]
    assert finals.loc[1, "val_accuracy"] == 0.6
