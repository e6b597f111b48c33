"""The report's findings: sections 3 (results), 4 (resolution) and 5 (verdicts, and the memo's
claims), each writing into a Doc from an Analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prepbench.document import Document as Doc
from prepbench.report import claims
from prepbench.report.analysis import TEST, Analysis
from prepbench.report.effects import TOO_FEW
from prepbench.report.wording import (
    ci,
    contrast_of,
    effect_words,
    fin,
    holm_effect,
    pair_sentence,
    pct,
    pval,
    seeds_text,
    test_text,
)


def results(d: Doc, a: Analysis, figures: list) -> None:
    d.h(2, "3. Results")
    headline(d, a)
    d.h(3, "Test accuracy per variant and level")
    pct_ = f"{a.level * 100:g}%"
    d.table(
        [
            "variant",
            a.selection.spec.moderator,
            "n",
            "mean",
            "sd (pp)",
            f"{pct_} CI",
            f"val. @ {a.early_label}",
            f"val. @ {a.final_label}",
            "failed",
            "missing",
        ],
        [
            (
                f"`{r.variant}`",
                r.moderator,
                r.n,
                pct(r.mean),
                f"{100 * r.sd:.2f}" if fin(r.sd) else "–",
                f"[{pct(r.ci_low)}, {pct(r.ci_high)}]",
                pct(r.val_early_mean),
                pct(r.val_final_mean),
                r.n_failed,
                r.n_missing,
            )
            for r in a.summary.itertuples()
        ],
    )
    benefit_table(d, a, TEST, "Benefit over the baseline, paired by seed (final test accuracy)")
    dose_response(d, a)
    validation(d, a)
    for path, caption in figures:
        d.img(path, caption)


def headline(d: Doc, a: Analysis) -> None:
    d.h(3, "Headline: the interaction per variant" + (" (tests H)" if a.claims_apply and a.depth_moderator else ""))
    if not a.pairs:
        d.p("Only one level of the moderator: no interaction can be computed.")
        return
    rows = []
    for r in a.table(TEST, "interaction").to_dict("records"):
        x, y = r["moderator"].split(" - ", 1)
        rows.append(
            (
                f"`{r['variant']}`",
                claims.claim_of(r["variant"]) if a.claims_apply else "",
                contrast_of(a, r["variant"]),
                holm_effect(a.row(TEST, "benefit", r["variant"], x)),
                holm_effect(a.row(TEST, "benefit", r["variant"], y)),
                r["moderator"],
                holm_effect(r),
                test_text(r),
                pval(r["p"]),
                pval(r["p_holm"]),
                f"**{r['verdict']}**",
            )
        )
    d.p(
        "Final test accuracy, pp. Benefit = the contrast on one level; interaction = benefit on the first "
        "level minus on the second. Each effect is shown with the interval its verdict uses (level in "
        "brackets; benefits: the family of the benefit table)."
    )
    d.table(
        [
            "variant",
            "claim",
            "contrast",
            "benefit, first",
            "benefit, second",
            "pair",
            "interaction",
            "test",
            "p",
            "p (Holm)",
            "verdict",
        ],
        rows,
    )


def dose_response(d: Doc, a: Analysis) -> None:
    """The trend of each variant's benefit over the moderator's doses (depth, data size), when it
    has at least three: the slope per doubling, its test and what it says of H."""
    trend = a.table(TEST, "trend")
    if trend.empty:
        return
    moderator = a.selection.spec.moderator
    on_depth = a.claims_apply and a.depth_moderator
    on_c1 = any(tests_c1(a, variant) for variant in trend["variant"])
    tests = " (tests H)" if on_depth else " (tests C1)" if on_c1 else ""
    d.h(3, f"Dose-response: the benefit per doubling of `{moderator}`{tests}")
    d.p(
        f"Each seed's benefit at each level of `{moderator}` is regressed on log2 of the level; the slope "
        "(pp per doubling) is one observation per seed, and its mean is tested with the one-sample t test "
        "over seeds (fixed before the runs), Holm across variants. "
        + (
            "H predicts a negative slope: the benefit falls as the network deepens."
            if on_depth
            else "C1 predicts a negative slope for augmentation: its benefit falls as the training set grows."
            if on_c1
            else "A negative slope: the benefit falls as the level grows."
        )
    )
    rows = [
        (
            f"`{r['variant']}`",
            contrast_of(a, r["variant"]),
            int(r["n"]),
            holm_effect(r),
            f"±{100 * r['halfwidth']:.2f}" if fin(r["halfwidth"]) else "–",
            pval(r["p"]),
            pval(r["p_holm"]),
            pval(r["p_perm"]),
            f"**{trend_words(a, r)}**",
        )
        for r in trend.to_dict("records")
    ]
    d.table(
        [
            "variant",
            "contrast",
            "seeds",
            "slope, pp per doubling",
            "half-width",
            "p",
            "p (Holm)",
            "p (perm.)",
            "verdict",
        ],
        rows,
    )


def trend_sentence(a: Analysis) -> str | None:
    """The dose-response in one line for the brief: which variants' benefit falls, rises or shows
    no trend (None when the moderator is not a dose)."""
    trend = a.table(TEST, "trend")
    if trend.empty:
        return None
    groups: dict[str, list[str]] = {}
    for r in trend.to_dict("records"):
        groups.setdefault(trend_words(a, r), []).append(f"`{r['variant']}`")
    parts = [f"{', '.join(variants)}: {words}" for words, variants in groups.items()]
    return (
        f"**Dose-response over `{a.selection.spec.moderator}` (the test fixed before the runs), "
        f"at family-wise {a.alpha:g} (Holm):** " + "; ".join(parts) + "."
    )


ON_DEPTH = {
    "benefit falls with the dose": "falls with depth (supports H)",
    "benefit rises with the dose": "rises with depth (contradicts H)",
    "no trend detectable": "no trend detectable at this resolution",
}
ON_SCARCITY = {
    "benefit falls with the dose": "falls as the training set grows (supports C1: helps more when data is scarce)",
    "benefit rises with the dose": "rises as the training set grows (contradicts C1)",
    "no trend detectable": "no trend detectable at this resolution",
}


def tests_c1(a: Analysis, variant: str) -> bool:
    """The trend of this row along the training images is C1's test (augmentation, scarce data)."""
    return (
        a.claims_apply and a.selection.spec.moderator == claims.SCARCITY_MODERATOR and claims.claim_of(variant) == "C1"
    )


def trend_words(a: Analysis, row: dict) -> str:
    """A trend's verdict; on depth, what it says of H; along the training images, what it says of C1
    for augmentation."""
    verdict = row["verdict"]
    if a.claims_apply and a.depth_moderator:
        return ON_DEPTH.get(verdict, verdict)
    if tests_c1(a, row["variant"]):
        return ON_SCARCITY.get(verdict, verdict)
    return verdict


def benefit_table(d: Doc, a: Analysis, metric: str, title: str) -> None:
    d.h(3, title)
    rows = [
        (
            f"`{r['variant']}`",
            contrast_of(a, r["variant"]),
            r["moderator"],
            int(r["n"]),
            holm_effect(r),
            pval(r["p"]),
            pval(r["p_holm"]),
            pval(r["p_perm"]),
            _prob(r),
            r["verdict"],
        )
        for r in a.table(metric, "benefit").to_dict("records")
    ]
    d.table(
        [
            "variant",
            "contrast",
            a.selection.spec.moderator,
            "n",
            "benefit (pp)",
            "p (t)",
            "p (Holm)",
            "p (perm.)",
            "P(beats)",
            "verdict",
        ],
        rows,
    )


def _prob(r) -> str:
    if not fin(r["prob_beats"]):
        return "– (all tied)" if r["ties"] else "–"
    ties = f", {int(r['ties'])} tied" if r["ties"] else ""
    return f"{r['prob_beats']:.2f} [{r['prob_beats_low']:.2f}, {r['prob_beats_high']:.2f}]{ties}"


def validation(d: Doc, a: Analysis) -> None:
    """Early against final benefit, both on the validation split."""
    val = [m for m in a.metrics if m.name != TEST]
    if not val:
        d.p(
            "Validation accuracy per epoch is not available here (no learning curves), so early and "
            "final benefits on the validation split are not compared."
        )
        return
    d.h(3, "Early against final, on the validation split")
    rows = []
    for v in a.contrasts:
        for m in a.selection.moderators:
            rows.append((f"`{v}`", m, *[effect_words(a.row(x.name, "benefit", v, m)) for x in val]))
        for x, y in a.pairs:
            rows.append(
                (
                    f"`{v}`",
                    f"{x} - {y} (interaction)",
                    *[effect_words(a.row(mm.name, "interaction", v, f"{x} - {y}")) for mm in val],
                )
            )
    d.table(["variant", "level", *[m.title for m in val]], rows)


def stop_text(a: Analysis, variant: str) -> str:
    stop = a.seeds_stops.get(variant)
    if not stop:
        return "–"
    h = stop.get("halfwidth")
    target = a.seeds_plan.get("halfwidth")
    width = f"±{100 * h:.2f} pp" if fin(h) else "±? pp"
    if stop.get("rule") == "precision":
        return f"precision: {width} ≤ ±{target} pp at {stop.get('seeds')} seeds"
    if stop.get("rule") == "max seeds":
        return f"max seeds ({stop.get('seeds')}): {width} > ±{target} pp"
    return str(stop.get("rule"))


def resolution(d: Doc, a: Analysis) -> None:
    """Half-widths now, seeds needed for +-1 and +-2 pp, what can be ruled out, and the seeds rule."""
    d.h(2, "4. Resolution")
    head = a.table(TEST, "interaction") if a.pairs else a.table(TEST, "benefit")
    if head.empty:
        d.p("No effect to resolve.")
        return
    pct_ = f"{a.level * 100:g}%"
    d.p(
        f"For every headline effect: the half-width of its per-comparison {pct_} interval now, and the "
        f"seeds per variant and level that a {pct_} interval of ±1 and ±2 pp would need at the spread "
        "observed (same test; the seeds command stops on these half-widths, never on an estimate)."
    )
    rows = [
        (
            f"`{r['variant']}`",
            r["moderator"],
            f"{int(r['n_a'])}/{int(r['n_b'])}" if r["kind"] == "interaction" else int(r["n"]),
            ci(r["ci_low"], r["ci_high"]),
            f"±{100 * r['halfwidth']:.2f}" if fin(r["halfwidth"]) else "–",
            seeds_text(r["seeds_for_2pp"]),
            seeds_text(r["seeds_for_1pp"]),
            *([stop_text(a, r["variant"])] if a.seeds_plan else []),
        )
        for r in head.to_dict("records")
    ]
    d.table(
        [
            "variant",
            "effect",
            "seeds",
            f"{pct_} CI (pp)",
            "half-width (pp)",
            "seeds for ±2 pp",
            "seeds for ±1 pp",
            *(["seeds rule"] if a.seeds_plan else []),
        ],
        rows,
    )
    d.p(rule_out(head))
    if a.seeds_plan:
        plan = a.seeds_plan
        commands = plan.get("commands") or [plan.get("command", "python -m prepbench.seeds")]
        d.p(
            f"Seeds were added by {' and then '.join(f'`{c}`' for c in commands)}: from "
            f"{plan.get('min_seeds')} seeds, {plan.get('step')} more per round to every variant whose headline "
            f"half-width exceeded ±{plan.get('halfwidth')} pp, up to {plan.get('max_seeds')}; the column "
            "*seeds rule* says which rule stopped each."
        )


def rule_out(head: pd.DataFrame) -> str:
    """One line: which effect sizes the intervals rule out and which they cannot. A claim about the
    whole table, so it uses the intervals at the table's family-wise level (Holm), not the
    per-comparison ones of the resolution table."""
    ok = head[head["ci_low_holm"].notna()]
    if ok.empty:
        return "Nothing can be ruled out yet: no effect has an interval."
    bound = ok.assign(b=np.maximum(ok["ci_low_holm"].abs(), ok["ci_high_holm"].abs()))
    within = lambda h: [f"`{r.variant}`" for r in bound.itertuples() if r.b < h]  # noqa: E731
    widest = bound.sort_values("b").iloc[-1]
    two, one = within(0.02), within(0.01)
    return (
        "**What this study can rule out** (family-wise, at the intervals its verdicts use): effects of "
        f"±2 pp or more for {', '.join(two) or 'no variant'}, "
        f"of ±1 pp or more for {', '.join(one) or 'no variant'}; for the others, only effects beyond their "
        f"interval (the widest reaches {100 * widest.b:.1f} pp, `{widest.variant}`). Effects of the 1–2 pp "
        "the literature reports "
        + (
            "cannot be ruled out for any variant."
            if not two
            else "remain possible wherever the interval is wider than that."
        )
    )


def deeper_reading(a: Analysis, variant: str, deeper: str) -> str:
    """On the validation split: the benefit on the deeper level early and at the end."""
    val = [m for m in a.metrics if m.name != TEST]
    if len(val) < 2:
        return "not measured (the runs trained different epochs)" if a.curves else "not measured (no learning curves)"
    early, final = (a.row(m.name, "benefit", variant, deeper) for m in val[:2])
    if final is None or final["verdict"] == TOO_FEW:
        return f"not enough seeds on `{deeper}`"
    fv, ev = final["verdict"], early["verdict"] if early is not None else "not measured"
    if fv in ("helps", "hurts"):
        return f"{'still helps' if fv == 'helps' else 'hurts'} `{deeper}` at the end"
    if ev == "helps":
        return f"`{deeper}` gets there anyway, but later: a benefit at {a.early_label}, none detectable at the end"
    if ev == "hurts":
        return f"`{deeper}` catches up: worse at {a.early_label}, no detectable difference at the end"
    return f"no detectable effect on `{deeper}` at {a.early_label} or at the end"


def verdicts(d: Doc, a: Analysis) -> None:
    d.h(2, "5. Verdicts")
    for x, y in a.pairs:
        d.h(3, f"{x} vs {y}")
        d.p(pair_sentence(a, x, y))
        early = next((m for m in a.metrics if m.name.startswith("val_accuracy@") and m.column == "val_early"), None)
        rows = [
            (
                f"`{r['variant']}`",
                effect_words(r),
                effect_words(a.row(early.name, "interaction", r["variant"], r["moderator"])) if early else "–",
                deeper_reading(a, r["variant"], y),
            )
            for r in a.table(TEST, "interaction").to_dict("records")
            if r["moderator"] == f"{x} - {y}"
        ]
        d.table(
            [
                "variant",
                "interaction, final test",
                f"interaction, val. {a.early_label}",
                f"reading for `{y}` (validation, {a.early_label} vs {a.final_label})",
            ],
            rows,
        )
    if a.claims_apply:
        claims_section(d, a)


def claims_section(d: Doc, a: Analysis) -> None:
    d.h(3, "The memo's claims")
    early = next((m for m in a.metrics if m.column == "val_early"), None)
    rows = []
    for cid, variants, _ in claims.CLAIMS:
        tested = [v for v in a.contrasts if claims.claim_of(v) == cid]  # `zca (ε=0.1)` beside `zca`
        if not tested:
            rows.append((cid, ", ".join(f"`{v.strip()}`" for v in variants.split(",")), "not run", "", ""))
        for v in tested:
            for m in a.selection.moderators:
                rows.append(
                    (
                        cid,
                        contrast_of(a, v),
                        m,
                        effect_words(a.row(TEST, "benefit", v, m)),
                        effect_words(a.row(early.name, "benefit", v, m)) if early else "–",
                    )
                )
    d.table(
        ["claim", "contrast", a.selection.spec.moderator, "benefit, final test", f"benefit, val. {a.early_label}"], rows
    )
    notes = []
    for m in a.selection.moderators:
        r = a.row(TEST, "benefit", "raw", m)
        if r is not None and fin(r["ci_low"]):
            notes.append(
                f"C3 on `{m}`: scaling (`none` − `raw`) {r['verdict']} ({holm_effect(r)}); the memo's "
                '"no effect at all" is '
                + (
                    "contradicted."
                    if r["verdict"] in ("helps", "hurts")
                    else "not contradicted at this resolution; the interval bounds it."
                )
            )
    if "batchnorm" in a.contrasts and early:
        notes.append(
            f"C6 (efficiency) is best read from the epoch-{a.early} column: a benefit early in training "
            "is faster learning even where the final accuracy is the same."
        )
    d.ul(notes)
