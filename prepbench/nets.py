"""`python -m prepbench.nets`: every preset's layers and parameter counts (conf/net/*.yaml), the plain
nets with and without batch normalization. `python -m prepbench.nets --resnet 8,14,20,32,56`: the
residual family's parameters and forward multiply-adds per depth, as a markdown table
(docs/resnet.md). The networks themselves are prepbench.train.nets and prepbench.train.resnet."""

import argparse

from prepbench.config import CONF, compose
from prepbench.train.nets import build_net, describe


def presets() -> None:
    for option in sorted(path.stem for path in (CONF / "net").glob("*.yaml")):
        net = compose([f"net={option}"]).net
        # the residual family has its batch norm built in: prep.batchnorm=true is refused there
        for batchnorm in (False, True) if net.family == "plain" else (False,):
            model = build_net(net, num_classes=10, input_shape=(32, 32, 3), batchnorm=batchnorm, seed=0)
            print(f"== net={net.name}{' prep=batchnorm' if batchnorm else ''}: {model.count_params():,} parameters")
            if not batchnorm:
                print(describe(model))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m prepbench.nets", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--resnet", metavar="DEPTHS", help="comma-separated 6n+2 depths: print their parameters and forward cost"
    )
    args = parser.parse_args(argv)
    if args.resnet is None:
        presets()
        return
    from prepbench.errors import PrepbenchError
    from prepbench.train.resnet import depth_table, markdown_table

    try:
        depths = [int(d) for d in args.resnet.split(",")]
        print(markdown_table(depth_table(depths)))
    except (ValueError, PrepbenchError) as err:
        parser.exit(2, f"python -m prepbench.nets: {err}\n")


if __name__ == "__main__":
    main()
