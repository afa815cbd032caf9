"""Rebuild the real writing corpora the sweep measures on (they are not kept in the repository).

Simon Willison publishes his "TIL" notes under the Apache-2.0 licence in the public repository
`simonw/til`: short first-person technical notes in Markdown, one folder per topic. This copies
every Nth note (paths in sorted order, the README left out) into a folder of writing, named
topic-note.md so that notes of the same name in two topics stay apart.

Run:  git clone https://github.com/simonw/til /tmp/til
      python benchmarks/corpora/notes_from_til.py /tmp/til OUT/writing --every 12
      python benchmarks/corpora/notes_from_til.py /tmp/til OUT/writing --every 4

Every 12th note gave the 48 notes (about 19,000 tokens) of "Choosing the defaults" (49 in the
July 2026 repository). Every 4th of the July 2026 repository gives 145 notes, 70,000 words
(about 100,000 tokens): a blog's worth, more than five minutes on a float32 CPU can pass over
twice.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def notes_of(clone: Path) -> list[Path]:
    """The clone's notes in sorted order: Markdown files one folder deep."""
    return sorted(path for path in clone.glob("*/*.md") if not path.parent.name.startswith("."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path, help="a clone of simonw/til")
    parser.add_argument("out", type=Path, help="the folder of writing to fill")
    parser.add_argument("--every", type=int, default=12, help="keep every Nth note")
    args = parser.parse_args()
    chosen = notes_of(args.clone)[:: args.every]
    args.out.mkdir(parents=True, exist_ok=True)
    for note in chosen:
        shutil.copyfile(note, args.out / f"{note.parent.name}-{note.name}")
    print(f"{len(chosen)} notes -> {args.out}")


if __name__ == "__main__":
    main()
