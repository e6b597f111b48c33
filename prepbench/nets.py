"""`python -m prepbench.nets`: every preset's layers and parameter counts (conf/net/*.yaml), with and
without batch normalization. The networks themselves are prepbench.train.nets."""

from prepbench.config import CONF, compose
from prepbench.train.nets import build_model, describe


def main() -> None:
    for option in sorted(path.stem for path in (CONF / "net").glob("*.yaml")):
        net = compose([f"net={option}"]).net
        for batchnorm in (False, True):
            model = build_model(
                depth=net.depth,
                width=net.width,
                dense=net.dense,
                num_classes=10,
                input_shape=(32, 32, 3),
                batchnorm=batchnorm,
                seed=0,
            )
            print(f"== net={net.name}{' prep=batchnorm' if batchnorm else ''}: {model.count_params():,} parameters")
            if not batchnorm:
                print(describe(model))


if __name__ == "__main__":
    main()
