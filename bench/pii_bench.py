"""PII redaction benchmark: quality on the shared development corpus and speed against Presidio.

Run with ``python -m bench`` (every bench) or ``python -m bench.pii_bench``. Generates the corpus with
the shared kit's ``gen_corpus.py`` in a temporary directory, runs ``python -m habeas.pii`` over it and
scores it with the kit's ``score.py`` (its table, plus precision by predicted type). Then runs the
kit's ``presidio_baseline.py`` through the same scorer in this same run and prints the speed ratio
(start-up subtracted, as score.py computes it), and an in-process ratio of ``habeas.pii.detect``
against Presidio's ``AnalyzerEngine.analyze`` on the same messages. Presidio is pip-installed into
this virtualenv on first use (a benchmark yardstick only, never a dependency of habeas).

The kit is found at ``$HABEAS_PII_KIT`` or ``../shared/pii`` beside the repository.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KIT = Path(os.environ.get("HABEAS_PII_KIT", ROOT.parent / "shared" / "pii"))
GOALS = {"recall": 0.98, "precision": 0.97, "speed_ratio": 20.0}
IN_PROCESS_SAMPLE = 1000  # messages for the in-process ratio (Presidio takes ~1 ms each)


def _load_kit_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pii_kit_{name}", KIT / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ensure_presidio() -> bool:
    """presidio-analyzer and -anonymizer in this venv (installed here if missing; bench only)."""
    wanted = ("presidio_analyzer", "presidio_anonymizer", "spacy", "tldextract")
    if all(importlib.util.find_spec(name) for name in wanted):
        return True
    print("  installing presidio-analyzer and presidio-anonymizer into this venv for the baseline ...", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "presidio-analyzer", "presidio-anonymizer"],
        capture_output=True,
        text=True,
    )
    importlib.invalidate_caches()
    if result.returncode != 0:
        print("  pip failed: " + (result.stderr.strip().splitlines() or ["(no message)"])[-1])
    return all(importlib.util.find_spec(name) for name in wanted)


def _precision_by_type(score: ModuleType, corpus: list[dict[str, Any]], lines: list[str]) -> None:
    """Per contract type: gold count and recall, predicted count and precision (span-level, >= 50%)."""
    preds, _texts, _bad_lines, _bad_spans = score.parse(lines, corpus)
    gold_n: collections.Counter[str] = collections.Counter()
    gold_hit: collections.Counter[str] = collections.Counter()
    pred_n: collections.Counter[str] = collections.Counter()
    pred_ok: collections.Counter[str] = collections.Counter()
    for message, predicted in zip(corpus, preds, strict=True):
        gold = message["spans"]
        for g in gold:
            kind = score.CONTRACT_TYPE.get(g["type"], g["type"])
            gold_n[kind] += 1
            gold_hit[kind] += any(
                score.ov(s, e, g["start"], g["end"]) >= 0.5 * (g["end"] - g["start"]) for s, e, _ in predicted
            )
        for s, e, kind in predicted:
            pred_n[kind] += 1
            pred_ok[kind] += sum(score.ov(s, e, g["start"], g["end"]) for g in gold) >= 0.5 * (e - s)
    print("quality by contract type (recall over gold spans; precision over predicted spans of that type):")
    print(f"  {'type':<8} {'gold':>5} {'recall':>7}   {'pred':>5} {'precision':>9}")
    for kind in sorted(set(gold_n) | set(pred_n)):
        recall = f"{gold_hit[kind] / gold_n[kind]:.3f}" if gold_n[kind] else "-"
        precision = f"{pred_ok[kind] / pred_n[kind]:.3f}" if pred_n[kind] else "-"
        print(f"  {kind:<8} {gold_n[kind]:>5} {recall:>7}   {pred_n[kind]:>5} {precision:>9}")


def _in_process_ratio(corpus: list[dict[str, Any]]) -> None:
    """habeas.pii.detect against Presidio's AnalyzerEngine.analyze, same messages, same process."""
    from habeas.pii import detect

    baseline = _load_kit_module("presidio_baseline")
    analyzer = baseline.build_analyzer()
    sample = [(m["text"], m["lang"]) for m in corpus[:IN_PROCESS_SAMPLE]]
    for lang in baseline.LANGS:  # warm both up: compiled patterns, phone metadata, suffix list
        analyzer.analyze(text=baseline.WARMUP, language=lang)
        detect(baseline.WARMUP, lang)
    started = time.perf_counter()
    for text, lang in sample:
        analyzer.analyze(text=text, language=lang)
    theirs = len(sample) / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(5):  # several passes: one is too short to time well
        for text, lang in sample:
            detect(text, lang)
    ours = 5 * len(sample) / (time.perf_counter() - started)
    print(
        f"in-process, detection only, {len(sample)} messages: habeas.pii.detect is {ours / theirs:.1f}x "
        f"Presidio AnalyzerEngine.analyze"
    )


def main() -> None:
    """Print the quality tables and the speed ratios against Presidio, all measured in this run."""
    print("pii bench (shared development corpus; one run)")
    if not (KIT / "gen_corpus.py").exists():
        print(f"  skipped: the PII kit is not at {KIT} (set HABEAS_PII_KIT)")
        return
    score = _load_kit_module("score")
    with tempfile.TemporaryDirectory(prefix="pii-bench-") as tmp:
        corpus_path = Path(tmp) / "corpus.jsonl"
        subprocess.run([sys.executable, str(KIT / "gen_corpus.py"), "--out", str(corpus_path)], check=True)
        corpus = score.load_corpus(str(corpus_path))
        print(
            f"corpus: {len(corpus)} messages, {sum(len(m['spans']) for m in corpus)} gold spans, "
            f"{sum(len(m['hard_negatives']) for m in corpus)} hard negatives (generated in a temp dir)"
        )
        python = shlex.quote(sys.executable)
        lines, perf = score.timed_run(f"{python} -m habeas.pii", corpus)
        ours = score.report("habeas.pii", corpus, lines, perf, 0)
        _precision_by_type(score, corpus, lines)
        verdict = "meets" if ours["recall"] >= GOALS["recall"] and ours["precision"] >= GOALS["precision"] else "MISSES"
        print(
            f"habeas.pii: precision {ours['precision']:.3f} recall {ours['recall']:.3f} leaks {ours['leaks']} "
            f"-> {verdict} the goals (recall >= {GOALS['recall']}, precision >= {GOALS['precision']})"
        )

        if not _ensure_presidio():
            print("speed ratio skipped: presidio-analyzer could not be installed into this venv")
            return
        b_lines, b_perf = score.timed_run(f"{python} {shlex.quote(str(KIT / 'presidio_baseline.py'))}", corpus)
        theirs = score.report("presidio baseline", corpus, b_lines, b_perf, 0)
        if ours["speed"] and theirs["speed"]:
            ratio = ours["speed"] / theirs["speed"]
            whole = perf["msgs_per_s_wall"] / b_perf["msgs_per_s_wall"]
            verdict = "meets" if ratio >= GOALS["speed_ratio"] else "MISSES"
            print(
                f"speed vs Presidio baseline, same run: {ratio:.1f}x without start-up ({whole:.1f}x whole process) "
                f"-> {verdict} the {GOALS['speed_ratio']:.0f}x goal"
            )
        else:
            print("speed ratio not available: one of the runs failed (see above)")
        _in_process_ratio(corpus)


if __name__ == "__main__":
    main()
