import time

from prepbench.track import names
from tests._cfg import cfg


def test_run_names_and_commands_read_well():
    assert names.run_name(cfg()) == "zca · deep · seed 0"
    assert names.run_name(cfg(), ["prep=zca", "net=deep", "seed=0"]) == "zca · deep · seed 0"
    assert names.command_for(["prep=zca", "seed=1"]) == "python -m prepbench prep=zca seed=1"
    assert names.command_for(["prep=zca"], multirun=True) == "python -m prepbench -m prep=zca"


def test_run_names_name_what_the_command_line_changes():
    job = [
        "prep=zca",
        "net=deep",
        "seed=0",
        "trainer.lr=0.01",
        "tracking.uri=sqlite:///x.db",
        "study=s",
        "rerun=true",
        "hydra/launcher=parallel",
        "experiment=cpu",
        "data=folder",
        "data.path=/far/away/cifar10-jpeg.zip",
    ]
    cpu = cfg(tracking=dict(uri="sqlite:///x.db", experiment="cpu"))  # experiment=cpu logs into `cpu`
    assert names.run_name(cpu, job) == "zca · deep · seed 0 · lr 0.01 · data folder · path cifar10-jpeg.zip"
    # an lr sweep: the jobs differ by name, not only by config
    lr_names = {names.run_name(cfg(), ["prep=zca", f"trainer.lr={lr}"]) for lr in ("0.1", "0.01")}
    assert lr_names == {"zca · deep · seed 0 · lr 0.1", "zca · deep · seed 0 · lr 0.01"}
    # a net whose shape the command line changed is named by its depth and width, not its preset
    deep50 = cfg(net=dict(name="shallow", depth=50, width=32, dense=128))
    assert names.run_name(deep50, ["net.depth=50"]) == "zca · depth 50, width 32 · seed 0"
    assert names.run_name(deep50, ["net.dense=128"]) == "zca · depth 50, width 32, dense 128 · seed 0"
    # a residual net always by its depth, as the literature names them
    resnet = cfg(net=dict(name="resnet", family="resnet", depth=32, width=16))
    assert names.run_name(resnet, ["net=resnet", "net.depth=32"]) == "zca · resnet-32 · seed 0"
    assert names.run_name(resnet, ["net.width=16"]) == "zca · resnet-32, width 16 · seed 0"
    # a preset of another variant's class (zca_reg: prep.name zca, ε 0.1) keeps its own name
    assert names.run_name(cfg(), ["prep=zca_reg", "seed=0"]) == "zca_reg · deep · seed 0"
    assert names.run_name(cfg(), ["prep=zca", "prep.zca_epsilon=0.1"]) == "zca · deep · seed 0 · zca_epsilon 0.1"
    # two keys with the same last part keep their whole key
    assert names.other_settings(["data.size=8", "+prep.size=2"]) == ["data.size 8", "prep.size 2"]
    assert names.other_settings(["net.width=4", "seed=1"], net_shape=True) == ["width 4"]  # the terminal's job line


def test_a_ladder_logged_into_another_studys_experiment_is_named_by_its_own_settings():
    """converged-scarce logs into `converged`: its 2,500-image cells and the study's 10,000-image
    ones must not share names in that runs table."""
    from prepbench.config import compose

    ladder = ["experiment=converged-scarce", "prep=augment", "net=deep", "seed=3", "data=folder", "data.path=/d/x.zip"]
    assert names.run_name(compose(ladder, checked=False), ladder) == (
        "augment · deep · seed 3 · train_size 2500 · data folder · path x.zip"
    )
    main = ["experiment=converged", "prep=augment", "net=deep", "seed=3", "data=folder", "data.path=/d/x.zip"]
    assert names.run_name(compose(main, checked=False), main) == "augment · deep · seed 3 · data folder · path x.zip"
    # a size the command line sets is named once, where the command line puts it
    smaller = [*ladder[:4], "data.train_size=1000"]
    assert names.run_name(compose(smaller, checked=False), smaller) == "augment · deep · seed 3 · train_size 1000"
    # an experiment file whose settings interpolate others (net.name: depth${net.depth}); equal steps
    depth = ["experiment=converged-depth", "prep=std", "net.depth=3", "seed=0"]
    assert names.run_name(compose(depth, checked=False), depth) == "std · depth 3, width 32 · seed 0"
    steps = ["experiment=converged-scarce-steps", "prep=none", "net=deep", "seed=0", "data.train_size=1250"]
    assert names.run_name(compose(steps, checked=False), steps) == (
        "none · deep · seed 0 · steps 2370 · warmup_steps 79 · train_size 1250"
    )


def test_sweep_names_give_the_study_the_time_and_the_command_line_in_short():
    when = 1_700_000_000.0
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when))
    assert names.sweep_name("cpu", [], when) == f"cpu · {stamp}"
    assert names.sweep_name("adhoc", ["prep=zca,std", "trainer.lr=0.1,0.01", "tracking.uri=x"], when) == (
        f"adhoc · {stamp} · prep zca,std · lr 0.1,0.01"
    )
    # the start of the parent run's id: two sweeps started in one minute are told apart
    assert names.sweep_name("cpu", ["prep=zca"], when, run_id="3f9a1c0e77d2") == f"cpu · {stamp} · 3f9a1c0e · prep zca"
