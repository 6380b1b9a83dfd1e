"""The figures of a run, printed as they come and as a table at the end, and its problems."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Row:
    what: str
    value: str
    reference: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def phase(self, what: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {what} …", flush=True)

    def add(
        self,
        what: str,
        value: str,
        reference: str = "",
        ratio: str = "",
        target: str = "",
        ok: bool | None = None,
    ) -> None:
        row = Row(what, value, reference, ratio, target, ok)
        self.rows.append(row)
        print(f"  {row.what}: {row.value}  [{row.reference} {row.ratio}]  {row.target}", flush=True)

    def table(self) -> str:
        head = ("figure", "measured", "reference (same run)", "ratio", "target", "")
        lines = [head] + [
            (
                r.what,
                r.value,
                r.reference,
                r.ratio,
                r.target,
                {True: "ok", False: "MISSED"}.get(r.ok, ""),
            )
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(6)]
        out = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
        ]
        out.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(out)


def machine(args: argparse.Namespace) -> str:
    """The line under the table: the machine, and how the fake and the product were set up."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return (
        f"machine: {os.cpu_count()} cores, {cpu}; fake Cloud API nginx, latency "
        f"{args.latency * 1000:.0f} ms, error rate {args.error_rate:.1%}; worker "
        f"prefork -c {args.concurrency} × {args.send_concurrency} send threads, "
        f"gunicorn -k asgi -w {args.web_workers}"
    )
