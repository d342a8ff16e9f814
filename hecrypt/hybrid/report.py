"""Readable cost tables for multi-party runs (per party and in total, MP-SPDZ style)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_report", "total_report"]

_PHASES = ("offline", "online")


def total_report(report: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over parties: bytes summed, rounds and seconds the maximum (parties run at once).

    Entries named ``"total"`` in ``report`` are ignored.
    """
    parties = [r for name, r in report.items() if name != "total"]
    out: dict[str, Any] = {}
    for prefix in ("", "offline_", "online_"):
        for key in ("bytes_sent", "bytes_received", "messages_sent", "messages_received"):
            out[prefix + key] = sum(int(r.get(prefix + key, 0)) for r in parties)
        out[prefix + "rounds"] = max((int(r.get(prefix + "rounds", 0)) for r in parties),
                                     default=0)
    for ph in _PHASES:
        out[f"{ph}_s"] = max((float(r.get(f"{ph}_s", 0.0)) for r in parties), default=0.0)
    return out


def format_report(report: Mapping[str, Mapping[str, Any]]) -> str:
    """A text table of a run's costs: one row per party and phase, then totals.

    Args:
        report: party name -> that party's report (the keys of
            :meth:`hecrypt.hybrid.channels.Party.report`; missing keys count 0).
            A ``"total"`` entry is recomputed, not read.

    Returns:
        The table. Bytes are whole frames as sent on the wire. Totals add the
        bytes of all parties (every byte appears once as sent and once as
        received); rounds and seconds in the totals are the largest of any
        party, since the parties run at the same time.
    """
    header = ("party", "phase", "sent (bytes)", "received (bytes)", "messages sent", "rounds",
              "time (s)")
    rows: list[tuple[str, ...]] = []

    def add(name: str, r: Mapping[str, Any]) -> None:
        for ph in (*_PHASES, "all"):
            prefix = "" if ph == "all" else f"{ph}_"
            seconds = (float(r.get("offline_s", 0.0)) + float(r.get("online_s", 0.0))
                       if ph == "all" else float(r.get(f"{ph}_s", 0.0)))
            rows.append((
                name if ph == _PHASES[0] else "",
                ph,
                f"{int(r.get(prefix + 'bytes_sent', 0)):,}",
                f"{int(r.get(prefix + 'bytes_received', 0)):,}",
                f"{int(r.get(prefix + 'messages_sent', 0)):,}",
                f"{int(r.get(prefix + 'rounds', 0)):,}",
                f"{seconds:.3f}",
            ))

    for name, r in report.items():
        if name != "total":
            add(name, r)
    add("total", total_report(report))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(w) for cell, w in zip(row[2:], widths[2:])]
        return "  ".join(cells).rstrip()

    rule = "-" * len(line(header))
    out = [line(header), rule]
    for i, row in enumerate(rows):
        if i and row[0]:
            out.append(rule)
        out.append(line(row))
    total_bytes = total_report(report)["bytes_sent"]
    out.append(rule)
    out.append(f"global data sent: {total_bytes:,} bytes ({total_bytes / 1e6:.3f} MB)")
    return "\n".join(out)
