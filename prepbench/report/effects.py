"""The effects of a report: every benefit, interaction and dose trend of every metric, each with its
test, its Holm adjustment within its table and its verdict in words.

Every effect is a contrast `plus − minus` between two variants on one moderator level, paired by
seed (a *benefit*), or the difference of two benefits between moderator levels (an
*interaction*, Welch's test fixed in advance, the paired test beside it as a sensitivity check:
`prepbench.report.stats.interaction`), or the slope of a benefit on log2 of a numeric moderator
(a *trend*, the dose-response of a ladder). Tests are grouped into families, one per table
(metric x kind); within a family p-values are Holm-adjusted, a verdict names a direction only when
the adjusted p is below alpha, and the interval printed beside it is the t interval at the level
`stats.holm_levels` gives, which excludes 0 exactly then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prepbench.report import stats

NO_EFFECT = "no detectable effect"
NO_DIFFERENCE = "no detectable difference"
TOO_FEW = "not enough seeds"


@dataclass(frozen=True)
class Metric:
    name: str  # as in effects.csv: test_accuracy, val_accuracy@epoch2, ...
    column: str  # the cells' column
    title: str  # as a table heading says it


TREND_SUFFIX = ") per doubling of the moderator"  # a trend's contrast: "(plus − minus)" + this


def contrast_text(plus: str, minus: str) -> str:
    return f"{plus} − {minus}"


def parse_contrast(text: str) -> tuple[str, str]:
    """(plus, minus) from a contrast as this module writes it: `none − raw on depth=1` (a benefit),
    `(none − raw) per doubling of the moderator` (a trend)."""
    if text.startswith("(") and text.endswith(TREND_SUFFIX):
        text = text[1 : -len(TREND_SUFFIX)]
    plus, sep, minus = text.rsplit(" on ", 1)[0].partition(" − ")
    if not (sep and plus and minus):
        raise ValueError(f"{text!r} is not a contrast; expected 'PLUS − MINUS'")
    return plus, minus


def series(cells: pd.DataFrame, column: str, variant: str, moderator: str) -> pd.Series:
    """The finished cells' `column` for one variant and level, indexed by seed."""
    c = cells[(cells["variant"] == variant) & (cells["moderator"] == moderator) & (cells["status"] == "FINISHED")]
    return pd.Series(c[column].to_numpy(dtype=float), index=c["seed"].to_numpy()).dropna()


def _resolution(c: stats.Comparison, level: float) -> dict:
    """Half-width now and seeds for +-1 and +-2 pp at the observed spread (per-comparison level)."""
    need = {}
    for pp in (1, 2):
        h = pp / 100
        need[f"seeds_for_{pp}pp"] = (
            stats.seeds_needed(c.sd_a, h, level, c.sd_b) if c.test == "Welch" else stats.seeds_needed(c.sd, h, level)
        )
    return {"halfwidth": c.halfwidth(level), **need}


def _effect(
    metric: Metric,
    kind: str,
    variant: str,
    moderator: str,
    contrast: str,
    c: stats.Comparison,
    perm: stats.SignFlip,
    seeds,
    level: float,
) -> dict:
    low, high = c.interval(level)
    return dict(
        metric=metric.name,
        kind=kind,
        variant=variant,
        moderator=moderator,
        contrast=contrast,
        test=c.test,
        n=c.n,
        n_a=c.n_a,
        n_b=c.n_b,
        mean=c.mean,
        sd=c.sd,
        sd_a=c.sd_a,
        sd_b=c.sd_b,
        se=c.se,
        df=c.df,
        level=level,
        ci_low=low,
        ci_high=high,
        p=c.p,
        p_perm=perm.pvalue,
        perm_exact=perm.exact,
        perm_min_p=perm.min_pvalue,
        corr=c.corr,
        corr_p=c.corr_p,
        corr_n=c.corr_n,
        **_resolution(c, level),
        seeds=" ".join(map(str, seeds)),
    )


def benefits(cells, metric: Metric, contrasts: dict, moderators, level: float) -> list:
    """(row, Comparison) per variant and level: plus − minus, paired by seed."""
    out = []
    for v, (plus, minus) in contrasts.items():
        for m in moderators:
            d = stats.paired_differences(series(cells, metric.column, plus, m), series(cells, metric.column, minus, m))
            c = stats.paired(d)
            row = _effect(
                metric,
                "benefit",
                v,
                m,
                f"{contrast_text(plus, minus)} on {m}",
                c,
                stats.sign_flip_test(d),
                d.index,
                level,
            )
            pb = stats.prob_beats(d, level)
            row.update(
                prob_beats=pb.estimate, prob_beats_low=pb.low, prob_beats_high=pb.high, wins=pb.wins, ties=pb.ties
            )
            out.append((row, c))
    return out


def interactions(cells, metric: Metric, contrasts: dict, pairs, level: float) -> list:
    """(row, Comparison) per variant and pair of levels: benefit on a − benefit on b."""
    out = []
    for v, (plus, minus) in contrasts.items():
        for a, b in pairs:
            da = stats.paired_differences(series(cells, metric.column, plus, a), series(cells, metric.column, minus, a))
            db = stats.paired_differences(series(cells, metric.column, plus, b), series(cells, metric.column, minus, b))
            c = stats.interaction(da, db)
            perm = stats.two_sample_permutation_test(da, db)
            seeds = sorted(set(da.index) | set(db.index))
            row = _effect(
                metric,
                "interaction",
                v,
                f"{a} - {b}",
                f"({contrast_text(plus, minus)}) on {a} minus on {b}",
                c,
                perm,
                seeds,
                level,
            )
            row["p_paired"] = stats.paired_interaction(da, db).p  # the sensitivity check
            out.append((row, c))
    return out


def adjust(family: list, alpha: float) -> None:
    """Holm over one table: p_holm, family_size, and the interval at the Holm-consistent level."""
    p = np.array([row["p"] for row, _ in family], dtype=float)
    adjusted, levels = stats.holm(p), stats.holm_levels(p, alpha)
    for (row, c), ph, lv in zip(family, adjusted, levels):
        low, high = c.interval(lv) if np.isfinite(lv) else (math.nan, math.nan)
        row.update(p_holm=ph, family_size=int(np.isfinite(p).sum()), level_holm=lv, ci_low_holm=low, ci_high_holm=high)


def doses(moderators, minimum: int = 3) -> dict[str, float] | None:
    """level -> log2 of its number, when the moderator is a dose (`depth=4`, `train_size=2500`, `8`)
    with at least `minimum` positive levels (three: the levels of a dose-response). None otherwise."""
    out = {}
    for m in moderators:
        try:
            value = float(str(m).rsplit("=", 1)[-1])
        except ValueError:
            return None
        if value <= 0:
            return None
        out[m] = float(np.log2(value))
    return out if len(out) >= minimum else None


def trends(cells, metric: Metric, contrasts: dict, moderators, level: float) -> list:
    """(row, Comparison) per variant: the slope of its paired benefit on log2 of the moderator's
    dose, per seed, tested over seeds (stats.trend, fixed in advance); none without doses."""
    x = doses(moderators)
    if x is None:
        return []
    out = []
    for v, (plus, minus) in contrasts.items():
        per_level = {
            x[m]: stats.paired_differences(
                series(cells, metric.column, plus, m), series(cells, metric.column, minus, m)
            )
            for m in moderators
        }
        table = pd.DataFrame(per_level)  # seeds x log2 dose
        c = stats.trend(table)
        row = _effect(
            metric,
            "trend",
            v,
            TREND_LEVEL,
            f"({contrast_text(plus, minus)}{TREND_SUFFIX}",
            c,
            stats.sign_flip_test(stats.seed_slopes(table)),
            table.index,
            level,
        )
        out.append((row, c))
    return out


TREND_LEVEL = "per doubling"


def trend_verdict(mean: float, p_holm: float, alpha: float) -> str:
    if not np.isfinite(p_holm):
        return TOO_FEW
    if p_holm < alpha:
        return "benefit rises with the dose" if mean > 0 else "benefit falls with the dose"
    return "no trend detectable"


def benefit_verdict(mean: float, p_holm: float, alpha: float) -> str:
    if not np.isfinite(p_holm):
        return TOO_FEW
    if p_holm < alpha:
        return "helps" if mean > 0 else "hurts"
    return NO_EFFECT


def interaction_verdict(mean: float, p_holm: float, alpha: float, a: str, b: str, va: str, vb: str) -> str:
    """The interaction in words from the signs of both benefits (their own Holm verdicts `va`,
    `vb`) and the direction of the difference (only when its Holm-adjusted p is below alpha)."""
    if not np.isfinite(p_holm):
        return TOO_FEW
    sa, sb = ({"helps": 1, "hurts": -1}.get(x, 0) for x in (va, vb))
    if p_holm >= alpha:
        return f"{'helps' if sa > 0 else 'hurts'} both; {NO_DIFFERENCE}" if sa == sb != 0 else NO_DIFFERENCE
    if mean < 0:  # make a the level with the larger benefit
        a, b, sa, sb = b, a, sb, sa
    if sa > 0 and sb > 0:
        return f"helps both, {a} more"
    if sa < 0 and sb < 0:
        return f"hurts both, {b} more"
    if sa > 0 and sb < 0:
        return f"helps {a}, hurts {b}"
    if sa > 0:
        return f"helps {a}; {NO_EFFECT} on {b}"
    if sb < 0:
        return f"hurts {b}; {NO_EFFECT} on {a}"
    return f"larger benefit on {a}; neither benefit detectable alone"


EFFECT_COLUMNS = [
    "metric",
    "kind",
    "variant",
    "moderator",
    "contrast",
    "test",
    "n",
    "n_a",
    "n_b",
    "mean",
    "sd",
    "sd_a",
    "sd_b",
    "se",
    "df",
    "level",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
    "family_size",
    "level_holm",
    "ci_low_holm",
    "ci_high_holm",
    "verdict",
    "favours",
    "p_perm",
    "perm_exact",
    "perm_min_p",
    "corr",
    "corr_p",
    "corr_n",
    "p_paired",
    "prob_beats",
    "prob_beats_low",
    "prob_beats_high",
    "wins",
    "ties",
    "halfwidth",
    "seeds_for_1pp",
    "seeds_for_2pp",
    "seeds",
]


def effects(cells, metrics, contrasts: dict, moderators, pairs, level: float) -> pd.DataFrame:
    """Every benefit and interaction of every metric, Holm-adjusted per (metric, kind), with
    verdicts: benefits from their own adjusted p, interactions worded from both benefits."""
    alpha = 1 - level
    rows = []
    for metric in metrics:
        ben = benefits(cells, metric, contrasts, moderators, level)
        inter = interactions(cells, metric, contrasts, pairs, level)
        trend = trends(cells, metric, contrasts, moderators, level)
        for family in (ben, inter, trend):
            adjust(family, alpha)
        for row, _ in trend:
            row["verdict"], row["favours"] = trend_verdict(row["mean"], row["p_holm"], alpha), ""
        verdict_of = {}
        for row, _ in ben:
            row["verdict"] = benefit_verdict(row["mean"], row["p_holm"], alpha)
            row["favours"] = ""
            verdict_of[(row["variant"], row["moderator"])] = row["verdict"]
        for row, _ in inter:
            a, b = row["moderator"].split(" - ", 1)
            row["verdict"] = interaction_verdict(
                row["mean"],
                row["p_holm"],
                alpha,
                a,
                b,
                verdict_of.get((row["variant"], a), TOO_FEW),
                verdict_of.get((row["variant"], b), TOO_FEW),
            )
            significant = np.isfinite(row["p_holm"]) and row["p_holm"] < alpha
            row["favours"] = (a if row["mean"] > 0 else b) if significant else ""
        rows += [row for row, _ in ben + inter + trend]
    return pd.DataFrame(rows).reindex(columns=EFFECT_COLUMNS)
