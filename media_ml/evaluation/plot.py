"""A picture of policy value estimates: one point and interval per estimator."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from media_ml.errors import UsageError
from media_ml.evaluation.policy_value import Estimate


def plot_estimates(
    estimates: Mapping[str, Estimate],
    path: str | Path,
    logging_value: float | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG of the estimates with their intervals (and the logging policy's value).

    Uses matplotlib's Agg canvas directly, so no display and no global backend switch.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not estimates:
        raise UsageError("estimates is empty: nothing to plot")
    for key, est in estimates.items():
        if not isinstance(est, Estimate):
            raise UsageError(f"estimates[{key!r}] = {type(est).__name__}: expected an Estimate")
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"path = {str(path)!r}: its folder does not exist")

    names = list(estimates)
    values = [estimates[k].value for k in names]
    below = [estimates[k].value - estimates[k].low for k in names]
    above = [estimates[k].high - estimates[k].value for k in names]
    first = next(iter(estimates.values()))
    level = f"{100 * (1 - first.alpha):.3g} %"

    fig = Figure(figsize=(max(4.0, 1.2 * len(names) + 2.0), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(names)))
    ax.errorbar(
        positions,
        values,
        yerr=[below, above],
        fmt="o",
        capsize=6,
        color="tab:blue",
        label=f"estimate ({level} CI)",
    )
    if logging_value is not None:
        ax.axhline(logging_value, color="tab:red", linestyle="--", label="logging policy")
    ax.set_xticks(positions, names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("policy value")
    ax.set_title(title or f"Estimated policy value (n = {first.n})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
