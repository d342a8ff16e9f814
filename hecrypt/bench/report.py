"""The benchmark's report: machine description, markdown tables, the document.

``--write`` rewrites only the blocks of the sections that ran, between
``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->`` markers.

Part of :mod:`hecrypt.bench`, which re-exports its names.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from hecrypt.bench.results import GROUPS, Row, SectionResult


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _busy_warning(load: str) -> str:
    """A warning when other work held a core while the benchmark started."""
    try:
        one_minute = float(load.split("/")[0])
    except ValueError:
        return ""
    if one_minute <= 0.5 * _usable_cores():
        return ""
    return (" — **busy machine**: other work held CPU time, so the machine ratios of "
            "the batch paths (which need every core) are understated relative to phe "
            "(one core); the per-core ratios much less so")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    """CPU, cores, OS and the versions that matter for these numbers."""
    from hecrypt import _gmp

    usable = _usable_cores()
    gmp = getattr(getattr(_gmp, "gmpy2", None), "mp_version", lambda: "unknown")()
    try:
        load = "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):  # pragma: no cover - not on Unix
        load = "unknown"
    return {
        "CPU": _cpu_model(),
        "Cores": f"{usable} usable ({os.cpu_count()} online)",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "gmpy2 / GMP": f"{_version('gmpy2')} / {gmp}",
        "phe": _version("phe"),
        "numpy": _version("numpy"),
        "hecrypt": _version("hecrypt"),
        "Load average (1/5/15 min)": load,
    }


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "—"
    if s == 0:
        return "0"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _fmt_amount(row: Row, v: float | None) -> str:
    """A time, or a size for rows in bytes."""
    if row.unit == "B" and v is not None:
        return f"{v:.3g} B" if v < 1000 else f"{v:,.0f} B"
    return _fmt_time(v)


def _fmt_ratio_value(row: Row, r: float | None) -> str:
    if r is None:
        return "—"
    if row.unit == "B":
        return f"{r:.1f}x smaller" if row.kind == "speedup" else f"{r:.2f}x the size"
    return f"{r:.1f}x faster" if row.kind == "speedup" else f"{r:.2f}x the time"


def _fmt_ratio(row: Row, on: str = "machine") -> str:
    """The machine ratio (default) or the per-core ratio (``on="core"``)."""
    return _fmt_ratio_value(row, row.core_ratio if on == "core" else row.ratio)


def _two_figures(row: Row) -> bool:
    """Whether the row's per-core and machine ratios can differ."""
    return row.has_one_core or row.cores > 1


def _fmt_cores(row: Row, on: str) -> str:
    """``hecrypt cores vs baseline cores`` of a ratio, e.g. ``2 vs 1``."""
    mine = 1 if on == "core" else row.cores
    return f"{mine} vs {row.baseline_cores}"


def _fmt_ratio_cell(row: Row, on: str) -> str:
    text = _fmt_ratio(row, on)
    return text if text == "—" else f"{text} ({_fmt_cores(row, on)})"


def _fmt_target(row: Row) -> str:
    if row.target is None:
        return "—"
    text = f"≥ {row.target:g}x" if row.kind == "speedup" else f"≤ {row.target:g}x"
    if _two_figures(row):
        text += " per core" if row.target_on == "core" else " machine"
    return text


def _fmt_number(row: Row, r: float) -> str:
    return f"{r:.1f}x" if row.kind == "speedup" else f"{r:.2f}x"


def _fmt_spread(row: Row) -> str:
    """The target ratio's range over the repeats, e.g. ``45.1x-52.3x over 3 repeats``."""
    rng = row.ratio_range()
    if rng is None:
        return ""
    span = f"{_fmt_number(row, rng.low)}-{_fmt_number(row, rng.high)}"
    if rng.repeats < 2:
        return f"{span}, 1 repeat: no spread"
    if rng.paired:
        return f"{span} over {rng.repeats} repeats"
    return f"{span}, fastest vs slowest repeats"


def _fmt_verdict(row: Row) -> str:
    """``PASS`` / ``MISS``, with ``(within noise)`` when the repeats disagree."""
    p = row.passed
    if p is None:
        return ""
    word = "PASS" if p else "MISS"
    return f"{word} (within noise)" if row.within_noise else word


def _fmt_result(row: Row) -> str:
    verdict = _fmt_verdict(row)
    if not verdict:
        return "—"
    word, _, rest = verdict.partition(" ")
    spread = _fmt_spread(row)
    detail = "; ".join(x for x in (rest.strip("()"), spread) if x)
    return f"**{word}**" + (f" ({detail})" if detail else "")


def _fmt_one_core(row: Row) -> str:
    if row.one_core_seconds is None:
        return "same" if row.cores == 1 and row.seconds is not None else "—"
    cell = _fmt_amount(row, row.one_core_seconds)
    if len(row.one_core_samples) > 1:
        lo, hi = min(row.one_core_samples), max(row.one_core_samples)
        cell += f" ({_fmt_amount(row, lo)} - {_fmt_amount(row, hi)})"
    return cell


def _fmt_time_row(r: Row) -> str:
    rng = (f"{_fmt_amount(r, r.spread[0])} - {_fmt_amount(r, r.spread[1])}"
           if r.spread else "—")
    mine = _fmt_amount(r, r.seconds)
    if r.seconds is not None:
        mine += f" ({r.cores} core{'s' if r.cores != 1 else ''})"
    return (f"| {r.operation} | {mine} | {rng} | {_fmt_one_core(r)} | "
            f"{r.baseline or '—'} | {_fmt_amount(r, r.baseline_seconds)} | "
            f"{_fmt_ratio_cell(r, 'core')} | {_fmt_ratio_cell(r, 'machine')} | "
            f"{_fmt_target(r)} | {_fmt_result(r)} |")


def _fmt_size_row(r: Row) -> str:
    return (f"| {r.operation} | {_fmt_amount(r, r.seconds)} | {r.baseline or '—'} | "
            f"{_fmt_amount(r, r.baseline_seconds)} | {_fmt_ratio(r)} | {_fmt_target(r)} | "
            f"{_fmt_result(r)} |")


#: Header of the throughput and latency tables.
TIME_HEADER = [
    "| Operation | hecrypt (cores) | (min-max) | hecrypt on 1 core (min-max) | Baseline "
    "| Baseline time | Ratio per core (cores) | Ratio per machine (cores) | Target | Result |",
    "|---|---:|---:|---:|---|---:|---:|---:|---:|:---|",
]
#: Header of the size table.
SIZE_HEADER = [
    "| Operation | hecrypt | Baseline | Baseline size | Ratio | Target | Result |",
    "|---|---:|---|---:|---:|---:|:---|",
]


def _target_line(r: Row) -> str:
    verdict = _fmt_verdict(r)
    if _two_figures(r):
        on = r.target_on
        other = "machine" if on == "core" else "core"
        label = {"machine": "machine", "core": "per core"}
        text = (f"{label[on]} {_fmt_ratio(r, on)} ({_fmt_cores(r, on)} cores), "
                f"{label[other]} {_fmt_ratio(r, other)} ({_fmt_cores(r, other)})")
    else:
        text = _fmt_ratio(r)
    spread = _fmt_spread(r)
    if spread:
        text += f"; {spread}"
    return f"- {verdict}: {r.operation} vs {r.baseline}: {text} (target {_fmt_target(r)})"


def format_markdown(result: SectionResult, *, heading_level: int = 2) -> str:
    """The tables, checks and notes of one section as markdown."""
    h = "#" * heading_level
    lines = [f"{h} {result.title}", ""]
    for group, caption in GROUPS.items():
        rows = [r for r in result.rows if r.group == group]
        if not rows:
            continue
        lines += [f"**{caption}**", ""]
        if group == "setup":
            lines += ["| Step | Time | Note |", "|---|---:|---|"]
            lines += [f"| {r.operation} | {_fmt_amount(r, r.seconds)} | {r.note} |"
                      for r in rows]
        else:
            if group == "size":
                lines += SIZE_HEADER + [_fmt_size_row(r) for r in rows]
            else:
                lines += TIME_HEADER + [_fmt_time_row(r) for r in rows]
            notes = [r for r in rows if r.note]
            if notes:
                lines.append("")
                lines += [f"- {r.operation} vs {r.baseline or '—'}: {r.note}" for r in notes]
        lines.append("")
    targets = [r for r in result.rows if r.passed is not None]
    if targets:
        met = sum(1 for r in targets if r.passed)
        noisy = sum(1 for r in targets if r.within_noise)
        lines.append(f"**Targets: {met} of {len(targets)} met"
                     + (f" ({noisy} within noise)" if noisy else "") + ".**")
        lines += [_target_line(r) for r in targets]
        lines.append("")
    if result.checks:
        ok = sum(1 for c in result.checks if c.ok)
        lines.append(f"**Correctness checks: {ok} of {len(result.checks)} passed.**")
        lines += [f"- {'ok' if c.ok else 'FAILED'}: {c.name} ({c.detail})" for c in result.checks]
        lines.append("")
    if result.notes:
        lines += [f"- {note}" for note in result.notes]
        lines.append("")
    return "\n".join(lines)


def _command_line() -> str:
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    argv = list(argv)
    if argv and os.path.basename(argv[0]).startswith("python"):
        argv[0] = "python"
    return shlex.join(argv)


_DOC_HEADER = """# Performance

Measured by `hecrypt bench` (also `python -m hecrypt.bench`), which times
hecrypt and phe (python-paillier) on the same key in the same run and checks
every result it times. Each section below is rewritten in place when the
benchmark runs with `--write docs/performance.md`; the command, machine and
date of each run are recorded with its numbers, and a section is written
only when every correctness check of the run passed. Steady-state
throughput, single-value latency and one-off setup are reported in separate
tables.

phe runs on one core; hecrypt's batch paths use the default executor (a
process pool over every usable core for large calls). Batch rows are timed
both ways in the same run: *ratio per core* is hecrypt on one core against
phe on one, *ratio per machine* hecrypt on the cores its call used against
phe on one; the core counts are given beside each ratio, and targets are
defined on the machine ratio. Next to each PASS/MISS: the lowest and highest
ratio over the repeats ("within noise" when some repeats meet the target and
some do not). hecrypt's public-key rows use DJN short-exponent randomness
(an assumption beyond DCR), phe's full `r^n`.
"""


def update_document(path: str | Path, results: Sequence[SectionResult], *,
                    command: str, machine: dict[str, str], date: str) -> None:
    """Write or update ``path``: one marked block per section, others left alone."""
    p = Path(path)
    text = p.read_text(encoding="utf-8") if p.exists() else _DOC_HEADER
    for result in results:
        begin = f"<!-- bench:{result.name}:begin -->"
        end = f"<!-- bench:{result.name}:end -->"
        meta = [
            f"Run on {date} with:",
            "",
            "```",
            command,
            "```",
            "",
            "| Machine | |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in machine.items()],
            "",
        ]
        body = format_markdown(result).rstrip("\n").split("\n")
        block = "\n".join([begin, *body[:2], *meta, *body[2:], end])
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        found = pattern.search(text)
        if found is not None:
            text = text[: found.start()] + block + text[found.end() :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
