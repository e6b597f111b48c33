"""The research report: reads one MLflow experiment (or a runs.csv it wrote) and writes what was
compared, how big each effect is, how sure we are, and what that says about the hypothesis.

    python -m prepbench.report --experiment NAME [--tracking-uri URI] --out DIR
        [--treatment KEY --baseline VALUE] [--moderator KEY] [--where KEY=V1,V2] [--level 0.95]

Parts: `load` (MLflow or runs.csv, the only I/O before writing), `select` (which runs enter, as
which cell), `analysis` (effects, Holm, verdicts; pure), `commands` (sweeps that fill gaps),
`figures/` (one module per figure), `document` (the report's sections put together: the question,
the setup, the caveats, reproducibility), `findings` (results, resolution, verdicts), `wording` (how
a number or an effect is written), `stats` (the statistics: paired and Welch differences, intervals,
Holm, seeds needed; no I/O) and `driver`; `published` writes every report under results/ again
by the command it prints. prepbench.document writes the text as Markdown or HTML.
"""

from prepbench.report.driver import main, write_report
from prepbench.report.load import default_tracking_uri
from prepbench.report.select import Spec
from prepbench.report.wording import data_name

__all__ = ["Spec", "data_name", "default_tracking_uri", "main", "write_report"]
