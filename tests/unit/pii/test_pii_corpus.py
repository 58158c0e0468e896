"""Regression on the shared development corpus (skipped when the kit is not beside the repository).

The corpus is generated into a temporary directory on each run and never committed; it is a sample
of the formats, not the test set, so this only guards the goal thresholds against regressions.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from habeas.pii import redact

pytestmark = pytest.mark.unit

KIT = Path(os.environ.get("HABEAS_PII_KIT", Path(__file__).resolve().parents[4] / "shared" / "pii"))


@pytest.mark.skipif(not (KIT / "score.py").exists(), reason="shared PII kit not found beside the repository")
def test_development_corpus_meets_the_recall_and_precision_goals(tmp_path):
    corpus_path = tmp_path / "corpus.jsonl"
    subprocess.run(  # noqa: S603 - the kit's own generator, by path
        [sys.executable, str(KIT / "gen_corpus.py"), "--n", "2500", "--out", str(corpus_path)], check=True
    )
    spec = importlib.util.spec_from_file_location("pii_kit_score", KIT / "score.py")
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    corpus = score.load_corpus(str(corpus_path))

    lines = []
    for message in corpus:
        result = redact(message["text"], lang=message["lang"])
        lines.append(json.dumps({"text": result.text, "spans": [s.to_dict() for s in result.spans]}))
    preds, texts, bad_lines, bad_spans = score.parse(lines, corpus)
    result = score.score(corpus, preds, texts)

    assert (bad_lines, bad_spans) == (0, 0)
    assert result["recall"] >= 0.98
    assert result["precision"] >= 0.97
