"""What each quantization costs against F16, per model and per corpus: the evidence behind the
`[export]` budgets (README, "Choosing a quantization").

    python benchmarks/quant_costs.py --gguf tuned=PATH/model-F16.gguf --gguf base=default \
        --corpus samples --corpus benchmarks/corpora/marek

`--gguf NAME=PATH` is an F16 GGUF ("default": the bundled base, dequantized and written as F16);
`--corpus` a folder of writing (samples: its held-out passages are not separated here, every
document counts). Each type is made by llama.cpp's quantizer and measured by the export's own
code (slmtui.ml.quant_cost) on the first --tokens tokens of each corpus. Prints one table: the
perplexity change, KL and top-1 per model, corpus and type, and the spread over corpora.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slmtui.config import EXPORT_QUANTS  # noqa: E402
from slmtui.export.quantize import quantize_gguf  # noqa: E402
from slmtui.ingest.extract import SkipFile, extract  # noqa: E402
from slmtui.ml.quant_cost import measure_costs  # noqa: E402

SUFFIXES = (".md", ".txt", ".rst", ".html", ".docx", ".pdf", ".odt")


def corpus_texts(folder: Path) -> list[str]:
    """Paragraph groups of every document, in file order (each scored on its own)."""
    texts = []
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix.lower() not in SUFFIXES or "chats" in path.parts:
            continue
        try:
            text = extract(path, path.read_bytes())
        except SkipFile:
            continue
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        for start in range(0, len(paragraphs), 4):
            texts.append("\n\n".join(paragraphs[start : start + 4]))
    return texts


def f16_path(spec: str, scratch: Path) -> Path:
    if spec != "default":
        return Path(spec)
    from slmtui.export.gguf_convert import convert_to_gguf
    from slmtui.ml.base import resolve_base

    folder = resolve_base("default", Path.home() / ".cache" / "slmtui")
    return convert_to_gguf(folder, scratch / "base-F16.gguf", outtype="f16").path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--corpus", action="append", required=True)
    parser.add_argument("--tokens", type=int, default=6000)
    parser.add_argument("--quant", nargs="+", default=[q for q in EXPORT_QUANTS if q != "F16"])
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    print("| model | corpus | type | ppl change | KL | top-1 |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for spec in args.gguf:
            name, _, path = spec.partition("=")
            f16 = f16_path(path, scratch)
            files = {q: quantize_gguf(f16, scratch / f"{name}-{q}.gguf", q) for q in args.quant}
            for corpus in args.corpus:
                texts = corpus_texts(ROOT / corpus if not Path(corpus).is_dir() else corpus)
                costs = measure_costs(f16, files, texts, max_tokens=args.tokens)
                for quant, cost in costs.items():
                    rows.setdefault(quant, []).append(cost.ppl_change)
                    print(
                        f"| {name} | {Path(corpus).name} | {quant} | {cost.ppl_change:+.2f}% | "
                        f"{cost.kl:.4f} | {cost.top1:.1%} |",
                        flush=True,
                    )
    print("\n| type | mean ppl change | min | max |\n|---|---|---|---|")
    for quant, changes in rows.items():
        print(
            f"| {quant} | {statistics.mean(changes):+.2f}% | {min(changes):+.2f}% | "
            f"{max(changes):+.2f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
