"""What the speed commands share: their options and how they publish a record."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.results import update_section, wrap

HERE = Path(__file__).resolve().parent


def parser(prog: str, doc: str, quick: str) -> argparse.ArgumentParser:
    """A command's parser with ``--quick`` (help ``quick``), ``--threads`` (default 1), ``--out``
    (folder of the JSON, default ``benchmarks/speed/results``) and ``--results`` (the Markdown
    file whose section is replaced; ``-`` for none)."""
    out = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    out.add_argument("--quick", action="store_true", help=quick)
    out.add_argument("--threads", type=int, default=1)
    out.add_argument("--out", type=Path, default=HERE / "results")
    out.add_argument("--results", default=str(HERE / "RESULTS.md"))
    return out


def publish(results: dict, markdown: str, args: argparse.Namespace, name: str, section: str, title: str) -> None:
    """Print ``markdown``, write ``results`` to ``<args.out>/<name>.json`` and replace ``section``
    (headed ``title``) of ``args.results`` unless it is ``-``."""
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2))
    if args.results != "-":
        update_section(Path(args.results), section, title, markdown)


def header(results: dict, versions: str = "") -> list[str]:
    """The lines a section opens with: machine, device, torch (and ``versions``, e.g.
    ``", scipy 1.17"``), threads, date, then the command as a code line."""
    return [wrap(f"Machine: {results['machine']}; device {results.get('device', 'cpu')}; torch {results['torch']}"
                 f"{versions}, {results['threads']} thread(s); {results['date']}. Command "
                 f"({results['wall_s']:.0f} s wall):"), "", f"    {results['command']}", ""]
