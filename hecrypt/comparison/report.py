"""Ways to print a comparison: a terminal table, CSV, and plots (matplotlib, optional).

JSON is :meth:`hecrypt.comparison.Comparison.to_dict`; this module holds the
human and spreadsheet forms and the figures.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_table", "format_csv", "format_markdown", "plot", "fmt_bytes",
           "fmt_seconds"]


def fmt_bytes(n: float | None) -> str:
    """``12.3 kB`` style (powers of 1000), ``-`` for None."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


def fmt_seconds(s: float | None) -> str:
    """Seconds with a unit that keeps three significant digits, ``-`` for None."""
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def _fmt_err(acc: dict[str, Any]) -> str:
    err = acc.get("max_abs_error")
    if err is None:
        return "-"
    return f"{err:.1e}"


def _fmt_agree(acc: dict[str, Any]) -> str:
    agree = acc.get("label_agreement")
    return "-" if agree is None else f"{agree * 100:.1f}%"


def key_notes(results: Any) -> list[str]:
    """Lines saying which results share a client key pair generated outside their figures."""
    shared: dict[int, tuple[float, list[str]]] = {}
    for r in results:
        note = (r.details or {}).get("client_key") or {}
        if note.get("shared"):
            bits = int(note.get("key_bits", r.key_bits))
            seconds, techs = shared.setdefault(bits, (float(note.get("generated_s", 0.0)), []))
            if r.technique not in techs:
                techs.append(r.technique)
    if not shared:
        return []
    out = [""]
    for bits, (seconds, techs) in sorted(shared.items()):
        out.append(f"client key: {', '.join(techs)} share one {bits}-bit key pair per "
                   f"comparison, generated once in {fmt_seconds(seconds)} (not in their "
                   "offline figures); two-party and hybrid generate theirs in their offline "
                   "phase, phe its own.")
    return out


def format_table(comparison: Any) -> str:
    """A readable table: per workload, per technique and party, then totals and projections."""
    nets = [n.name for n in comparison.networks]
    lines: list[str] = []
    m = comparison.machine
    lines.append(f"machine: {m.get('CPU', '?')}, {m.get('Cores', '?')}; "
                 f"hecrypt {m.get('hecrypt', '?')}, phe {m.get('phe', '?')}")
    if m.get("Worker pool"):
        lines.append(f"worker pool: {m['Worker pool']}")
    lines.append("networks: " + "; ".join(n.describe() for n in comparison.networks)
                 + "  (projected = offline + online, see docs/comparison.md)")
    head = ["technique", "party", "offline", "online", "sent", "received", "rounds"]
    head += [f"proj {n}" for n in nets] + ["max err", "labels"]
    current = None
    rows: list[list[str]] = []

    def flush() -> None:
        if not rows:
            return
        full = [r for r in [head, *rows] if len(r) == len(head)]
        widths = [max(len(r[i]) for r in full) for i in range(len(head))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for r in rows:
            if len(r) == 2:  # a status line
                lines.append(f"{r[0].ljust(widths[0])}  {r[1]}")
            else:
                lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        rows.clear()

    for res in comparison.results:
        key = (res.workload.get("name"), res.key_bits)
        if key != current:
            flush()
            current = key
            params = ", ".join(f"{k}={v}" for k, v in res.workload.items() if k != "name")
            lines.append("")
            lines.append(f"workload {key[0]} ({params}); key {res.key_bits} bits; "
                         f"transport {res.transport}")
        if res.status != "ok":
            rows.append([res.technique, f"{res.status}: {res.reason}"])
            continue
        for name, rep in res.parties.items():
            rows.append([res.technique, name, fmt_seconds(rep["offline_s"]),
                         fmt_seconds(rep["online_s"]), fmt_bytes(rep["bytes_sent"]),
                         fmt_bytes(rep["bytes_received"]), str(rep["rounds"])]
                        + [""] * len(nets) + ["", ""])
        t = res.totals
        verdict = "" if res.accuracy.get("ok") else "  FAILED"
        rows.append([res.technique, "total", fmt_seconds(t.get("offline_s")),
                     fmt_seconds(t.get("online_s")), fmt_bytes(t.get("bytes_sent")), "",
                     str(t.get("rounds", "-"))]
                    + [fmt_seconds(res.projected_s.get(n)) for n in nets]
                    + [_fmt_err(res.accuracy), _fmt_agree(res.accuracy) + verdict])
    flush()
    lines.extend(key_notes(comparison.results))
    failures = [r for r in comparison.results if r.failed]
    if failures:
        lines.append("")
        for r in failures:
            why = r.reason if r.status == "error" else r.accuracy.get("problem", "")
            lines.append(f"FAILED {r.technique} on {r.workload.get('name')}: {why}")
    checks = getattr(comparison, "projection_checks", None) or []
    if checks:
        lines.append("")
        lines.append("projection check: in-memory run projected vs. a real TCP run through a "
                     "delaying proxy")
        for c in checks:
            net = c["network"]
            online = ""
            if c.get("online_ratio") is not None:
                online = (f"; online phase: projected {fmt_seconds(c['projected_online_s'])},"
                          f" measured {fmt_seconds(c['measured_online_s'])} "
                          f"(ratio {c['online_ratio']:.2f})")
            lines.append(
                f"  {c['technique']} on {c['workload']}, {net['name']} "
                f"({net['bandwidth_bps'] / 1e6:g} Mbit/s, {net['latency_s'] * 1e3:g} ms): "
                f"projected {fmt_seconds(c['projected_s'])}, measured "
                f"{fmt_seconds(c['measured_s'])} (ratio {c['ratio']:.2f}){online}; "
                f"in-memory wall "
                f"{fmt_seconds(c['memory_wall_s'])}; bytes {c['tcp_bytes_sent']} over TCP vs "
                f"{c['memory_bytes_sent']} in memory)")
    lines.append("")
    lines.append("offline/online: wall time of each phase (max over parties in the totals); "
                 "sent/received: serialized bytes incl. framing; rounds: dependency depth.")
    return "\n".join(lines) + "\n"


def format_markdown(comparison: Any) -> str:
    """One Markdown table per workload and key size: totals, projections, accuracy."""
    nets = [n.name for n in comparison.networks]
    out: list[str] = []
    current = None
    for res in comparison.results:
        key = (res.workload.get("name"), res.key_bits)
        if key != current:
            current = key
            out.append("")
            out.append(f"**{key[0]}**, {res.key_bits}-bit key, transport {res.transport}")
            out.append("")
            out.append("| technique | parties | offline | online | bytes | rounds (off+on) | "
                       + " | ".join(f"projected {n}" for n in nets)
                       + " | max abs error | labels |")
            out.append("|" + "---|" * (8 + len(nets)))
        if res.status != "ok":
            out.append(f"| {res.technique} | {res.status}: {res.reason} |"
                       + " |" * (7 + len(nets)))
            continue
        t = res.totals
        out.append(
            f"| {res.technique} | {len(res.parties)} | {fmt_seconds(t['offline_s'])} | "
            f"{fmt_seconds(t['online_s'])} | {fmt_bytes(t['bytes_sent'])} | "
            f"{t['offline_rounds']}+{t['online_rounds']} | "
            + " | ".join(fmt_seconds(res.projected_s.get(n)) for n in nets)
            + f" | {_fmt_err(res.accuracy)} | {_fmt_agree(res.accuracy)} |")
    out.extend(key_notes(comparison.results))
    return "\n".join(out).lstrip("\n") + "\n"


CSV_FIELDS = (
    "workload", "technique", "status", "party", "key_bits", "transport",
    "offline_s", "online_s", "bytes_sent", "bytes_received", "rounds",
    "offline_bytes_sent", "offline_bytes_received", "offline_rounds",
    "online_bytes_sent", "online_bytes_received", "online_rounds",
)


def format_csv(comparison: Any) -> str:
    """One row per workload, technique and party (plus a ``total`` row per technique)."""
    nets = [n.name for n in comparison.networks]
    sweep_keys = sorted({k for r in comparison.results for k in r.workload if k != "name"})
    fields = [*CSV_FIELDS, *sweep_keys, *(f"projected_{n}_s" for n in nets),
              "max_abs_error", "label_agreement", "accuracy_ok", "reason"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for res in comparison.results:
        base = {"workload": res.workload.get("name"), "technique": res.technique,
                "status": res.status, "key_bits": res.key_bits, "transport": res.transport,
                "reason": res.reason}
        base.update({k: res.workload.get(k) for k in sweep_keys})
        if res.status != "ok":
            writer.writerow(base)
            continue
        for name, rep in res.parties.items():
            writer.writerow({**base, "party": name, **rep})
        writer.writerow({**base, "party": "total", **res.totals,
                         **{f"projected_{n}_s": res.projected_s.get(n) for n in nets},
                         "max_abs_error": res.accuracy.get("max_abs_error"),
                         "label_agreement": res.accuracy.get("label_agreement"),
                         "accuracy_ok": res.accuracy.get("ok")})
    return buf.getvalue()


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError('plots need matplotlib: pip install "hecrypt[plot]"') from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _measured(comparison: Any) -> list[Any]:
    return [r for r in comparison.results if r.status == "ok"]


def plot(comparison: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG: bars per technique (no sweep) or lines over the swept parameter.

    Bars: compute time (offline and online, max over parties), bytes, rounds
    and the projected time per network. Lines: the same four figures against
    the swept parameter, one line per technique (log scales).

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: nothing was measured.
    """
    plt = _pyplot()
    results = _measured(comparison)
    if not results:
        raise ValueError("nothing to plot: no technique ran")
    path = Path(path)
    sweep = comparison.sweep
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    if sweep:
        _plot_lines(axes, results, sweep["param"], [n.name for n in comparison.networks])
    else:
        _plot_bars(axes, results, [n.name for n in comparison.networks])
    fig.suptitle(title or _default_title(comparison, results))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _default_title(comparison: Any, results: Sequence[Any]) -> str:
    names = sorted({str(r.workload.get("name")) for r in results})
    what = f"sweep over {comparison.sweep['param']}" if comparison.sweep else ", ".join(names)
    return f"hecrypt compare: {what} ({comparison.machine.get('Cores', '')})"


def _plot_bars(axes: Any, results: Sequence[Any], nets: list[str]) -> None:
    labels = [r.technique if len({x.workload.get("name") for x in results}) == 1
              else f"{r.technique}\n{r.workload.get('name')}" for r in results]
    xs = list(range(len(results)))
    off = [r.totals["offline_s"] for r in results]
    on = [r.totals["online_s"] for r in results]
    axes[0].bar(xs, off, label="offline")
    axes[0].bar(xs, on, bottom=off, label="online")
    axes[0].set_title("compute (wall, max over parties)")
    axes[0].set_ylabel("seconds")
    axes[0].legend()
    axes[1].bar(xs, [r.totals["bytes_sent"] for r in results])
    axes[1].set_title("bytes on the wire (all parties)")
    axes[1].set_yscale("log")
    axes[2].bar(xs, [r.totals["rounds"] for r in results])
    axes[2].set_title("rounds (dependency depth)")
    width = 0.8 / max(len(nets), 1)
    for i, net in enumerate(nets):
        axes[3].bar([x + i * width for x in xs], [r.projected_s.get(net, 0) for r in results],
                    width=width, label=net)
    axes[3].set_title("projected wall time")
    axes[3].set_yscale("log")
    axes[3].legend()
    for ax in axes:
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)


def _plot_lines(axes: Any, results: Sequence[Any], param: str, nets: list[str]) -> None:
    by_tech: dict[str, list[Any]] = {}
    for r in results:
        by_tech.setdefault(r.technique, []).append(r)
    for tech, rs in by_tech.items():
        rs = sorted(rs, key=lambda r: _param(r, param))
        xs = [_param(r, param) for r in rs]
        (line,) = axes[0].plot(xs, [r.totals["offline_s"] + r.totals["online_s"] for r in rs],
                               "o-", label=tech)
        color = line.get_color()
        axes[1].plot(xs, [r.totals["bytes_sent"] for r in rs], "o-", label=tech, color=color)
        axes[2].plot(xs, [r.totals["rounds"] for r in rs], "o-", label=tech, color=color)
        for net, style in zip(nets, ("o-", "s--", "^:", "d-.")):
            axes[3].plot(xs, [r.projected_s.get(net) for r in rs], style, color=color,
                         label=f"{tech} ({net})")
    titles = ("compute, offline + online (s)", "bytes on the wire", "rounds",
              "projected wall time (s)")
    for ax, t in zip(axes, titles):
        ax.set_title(t)
        ax.set_xlabel(param)
        ax.set_xscale("log" if param != "key_bits" else "linear")
        if t != "rounds":
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[3].legend(fontsize=7)


def _param(result: Any, param: str) -> float:
    if param == "key_bits":
        return float(result.key_bits)
    return float(result.workload.get(param, result.workload.get("batch", 0)))
