"""The registry of preprocessing variants: what `prep=NAME` can be, read from conf/prep/*.yaml.

    variants()            {option: Variant} for every conf/prep/<option>.yaml, in report order
    names()               the variant names in report order (an alias such as featurewise included)
    order_key(name)       a sort key putting any name in that order (unknown names last, by name)
    variant("zca")        one Variant; unknown names raise PrepbenchError naming the options
    build("zca", zca_epsilon=1e-6)   a Preprocessor for a variant (prepbench.prep), its settings overridden

A variant is a normalization (one class in prepbench.prep.normalizations, NORMALIZATIONS) with optional
augmentation or batch normalization, and its settings (zca_epsilon, batchnorm_momentum). The order:
plain normalizations first, in the order their classes are defined, then the variants that add
augmentation, then batch normalization. Adding a variant is one YAML file in conf/prep/ (and, for a
new normalization, one class in prepbench/prep/normalizations.py); the preprocessing by name, the
config and the report all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from prepbench.config import CONF
from prepbench.errors import PrepbenchError
from prepbench.prep.normalizations import NORMALIZATIONS
from prepbench.prep.preprocessor import SETTINGS, Preprocessor

FLAGS = ("name", "normalization", "augment", "batchnorm")


@dataclass(frozen=True)
class Variant:
    option: str  # the file name: prep=<option>
    name: str  # what runs record as `prep` (featurewise.yaml is std's, so its name is std)
    normalization: str
    augment: bool | str = False  # true: the memo's augmentation; crop: He et al.'s
    batchnorm: bool = False
    settings: dict = field(default_factory=dict)  # the other keys: zca_epsilon, batchnorm_momentum

    @property
    def alias(self) -> bool:
        return self.option != self.name


@lru_cache(maxsize=1)
def variants() -> dict[str, Variant]:
    """Every conf/prep/*.yaml, composed as a job would (so an alias inherits its target's keys)."""
    from omegaconf import OmegaConf

    from prepbench.config import compose

    def load(option):
        node = OmegaConf.to_container(compose([f"prep={option}"], checked=False).prep, resolve=True)
        flags = {key: node.pop(key) for key in FLAGS}
        return Variant(option=option, **flags, settings=node)

    found = [load(p.stem) for p in sorted((CONF / "prep").glob("*.yaml"))]
    return {v.option: v for v in sorted(found, key=_rank)}


def _rank(v: Variant) -> tuple:
    order = list(NORMALIZATIONS)
    position = order.index(v.normalization) if v.normalization in order else len(order)
    return (bool(v.augment or v.batchnorm), v.batchnorm, position, v.alias, v.option)


def names() -> list[str]:
    return list(variants())


def order_key(name: str) -> tuple[int, str]:
    order = names()
    return (order.index(name) if name in order else len(order), name)


def variant(option: str) -> Variant:
    found = variants()
    if option not in found:
        raise PrepbenchError(f"prep={option!r} is unknown; expected one of {', '.join(found)}")
    return found[option]


def build(name: str, *, augment: bool | str | None = None, **settings) -> Preprocessor:
    """A preprocessor for a variant (conf/prep/<name>.yaml); `augment=True` adds the memo's
    augmentation to any, `augment="crop"` He et al.'s. `settings` (zca_epsilon, zca_shrinkage, zca_retain, zca_fit_images, gcn)
    override the variant's; those not given take its values in conf/prep/."""
    v = variant(name)
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise PrepbenchError(f"build() got {', '.join(sorted(unknown))}; expected settings among {', '.join(SETTINGS)}")
    chosen = {k: v.settings.get(k) for k in SETTINGS} | {k: x for k, x in settings.items() if x is not None}
    return Preprocessor(
        normalization=v.normalization,
        augment=v.augment if augment is None else augment,
        batchnorm=v.batchnorm,
        **chosen,
    )
