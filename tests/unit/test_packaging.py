import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_layer_requirements_match_the_library_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "layers/habeas/requirements.txt").read_text().splitlines()
    layer = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(layer) == sorted(project)


def test_purpose_catalogue_loads_and_has_texts_in_every_language():
    from habeas.purposes import catalogue

    purposes = catalogue().purposes
    assert purposes and all(p.description.es and p.description.pt and p.description.en for p in purposes)
