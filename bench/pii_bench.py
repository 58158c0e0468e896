"""PII redaction benchmark: quality on the shared development corpus and speed against Presidio.

Run with ``python -m bench`` (every bench) or ``python -m bench.pii_bench``. Generates the corpus with
the shared kit's ``gen_corpus.py`` in a temporary directory, runs ``python -m habeas.pii`` over it and
scores it with the kit's ``score.py`` (its table, plus precision by predicted type), then the kit's
``presidio_baseline.py`` through the same scorer. Presidio is pip-installed into this virtualenv on
first use (a benchmark yardstick only, never a dependency of habeas).

Speed, on the same messages in the same run, two ways:

* whole command lines, as ``score.py`` times them (the run minus the same command on empty input).
  One run of each is what ``score.py`` prints, but on a shared machine one run is at the mercy of
  whatever else runs at that moment, and the two commands do not run at the same moment (habeas.pii
  takes a fraction of a second, Presidio several): under load the single-run ratio swings between
  half and double its quiet value. So both commands are also run in alternating rounds and timed
  by their least disturbed runs (fastest full run minus fastest empty run), by wall clock and by
  the CPU time the command itself used; the goal is judged by CPU time, which other processes on
  the machine disturb least. On a quiet machine the two agree.
* in process: ``habeas.pii.detect`` against Presidio's ``AnalyzerEngine.analyze`` (built once, warmed
  up on every language), the same messages, each message once per round, rounds alternating, the
  fastest round of each, in this process's CPU time.

The kit is found at ``$HABEAS_PII_KIT`` or ``../shared/pii`` beside the repository.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import resource
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
IN_PROCESS_SAMPLE = 2000  # messages for the in-process ratio (Presidio takes ~0.6 ms each)
ROUNDS = 3  # alternating timing rounds per engine


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
    """habeas.pii.detect against Presidio's AnalyzerEngine.analyze, same messages, same process.

    Each round runs every sample message once through each engine (no engine sees a message twice
    in a round, so nothing it remembers between messages flatters it); the fastest round counts.
    """
    from habeas.pii import detect

    baseline = _load_kit_module("presidio_baseline")
    analyzer = baseline.build_analyzer()
    sample = [(m["text"], m["lang"]) for m in corpus[:IN_PROCESS_SAMPLE]]
    for lang in baseline.LANGS:  # warm both up: compiled patterns, phone metadata, suffix list
        analyzer.analyze(text=baseline.WARMUP, language=lang)
        detect(baseline.WARMUP, lang)
    theirs, ours = [], []
    for _ in range(ROUNDS):
        started = time.process_time()
        for text, lang in sample:
            analyzer.analyze(text=text, language=lang)
        theirs.append(time.process_time() - started)
        started = time.process_time()
        for text, lang in sample:
            detect(text, lang)
        ours.append(time.process_time() - started)
    print(
        f"in-process, detection only, {len(sample)} messages, fastest of {ROUNDS} rounds (CPU time): habeas.pii.detect "
        f"{1e6 * min(ours) / len(sample):.1f} us/message, Presidio AnalyzerEngine.analyze "
        f"{1e6 * min(theirs) / len(sample):.0f} us/message: {min(theirs) / min(ours):.1f}x"
    )


def _timed(score: ModuleType, cmd: str, payload: bytes) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``cmd`` through the kit's ``score.run``; the CPU
    time (user + system) is the command's own, read from this process's finished children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = score.run(cmd, payload)[2]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _command_speeds(
    score: ModuleType, commands: dict[str, str], corpus: list[dict[str, Any]]
) -> dict[str, tuple[float, float]]:
    """(messages per second by wall clock, by CPU time) for each command line, start-up excluded,
    from alternating rounds: the fastest full run minus the fastest run on empty input (3 empty
    runs and 1 full run per round, for wall clock and CPU time each)."""
    payload = "".join(
        json.dumps({"text": m["text"], "lang": m["lang"]}, ensure_ascii=False) + "\n" for m in corpus
    ).encode("utf-8")
    empty: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    full: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(ROUNDS):
        for name, cmd in commands.items():
            empty[name].extend(_timed(score, cmd, b"") for _ in range(3))
            full[name].append(_timed(score, cmd, payload))
    speeds = {}
    for name in commands:
        wall = min(w for w, _ in full[name]) - min(w for w, _ in empty[name])
        cpu = min(c for _, c in full[name]) - min(c for _, c in empty[name])
        speeds[name] = (len(corpus) / wall, len(corpus) / cpu)
        runs = ", ".join(f"{w:.2f}/{c:.2f}" for w, c in full[name])
        print(
            f"  {name:<18} full runs (wall/CPU s) {runs}; fastest start-up {min(w for w, _ in empty[name]):.2f}/"
            f"{min(c for _, c in empty[name]):.2f} s -> {1e6 * wall / len(corpus):.0f} us/message wall, "
            f"{1e6 * cpu / len(corpus):.0f} us/message CPU"
        )
    return speeds


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
        ours_cmd = f"{python} -m habeas.pii"
        lines, perf = score.timed_run(ours_cmd, corpus)
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
        theirs_cmd = f"{python} {shlex.quote(str(KIT / 'presidio_baseline.py'))}"
        b_lines, b_perf = score.timed_run(theirs_cmd, corpus)
        theirs = score.report("presidio baseline", corpus, b_lines, b_perf, 0)
        if ours["speed"] and theirs["speed"]:
            single = ours["speed"] / theirs["speed"]
            print(f"command lines, {ROUNDS} alternating rounds (each timed by its least disturbed runs):")
            speeds = _command_speeds(score, {"habeas.pii": ours_cmd, "presidio baseline": theirs_cmd}, corpus)
            wall_ratio = speeds["habeas.pii"][0] / speeds["presidio baseline"][0]
            ratio = speeds["habeas.pii"][1] / speeds["presidio baseline"][1]
            verdict = "meets" if ratio >= GOALS["speed_ratio"] else "MISSES"
            print(
                f"speed vs Presidio baseline, same run, without start-up: {ratio:.1f}x by CPU time, "
                f"{wall_ratio:.1f}x by wall clock (the single runs above: {single:.1f}x) "
                f"-> {verdict} the {GOALS['speed_ratio']:.0f}x goal (judged by CPU time)"
            )
        else:
            print("speed ratio not available: one of the runs failed (see above)")
        _in_process_ratio(corpus)


if __name__ == "__main__":
    main()
