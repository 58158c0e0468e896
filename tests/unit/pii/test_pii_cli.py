"""``python -m habeas.pii``: the contract's JSON-lines command line, run as a subprocess."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

SECRET_CPF = "123.456.789-09"


def run_cli(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "habeas.pii"], input=stdin, capture_output=True, timeout=60, check=False
    )


def test_one_output_line_per_input_line_with_spans_into_the_input():
    lines = [
        {"text": f"meu cpf é {SECRET_CPF}", "lang": "pt"},
        {"text": "hola, sin datos"},
        {"text": "mail ana@x.com", "lang": "en"},
    ]
    result = run_cli("".join(json.dumps(line) + "\n" for line in lines).encode())
    assert result.returncode == 0
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert out[0] == {"text": "meu cpf é [CPF]", "spans": [{"start": 10, "end": 24, "type": "cpf"}]}
    assert out[1] == {"text": "hola, sin datos", "spans": []}
    assert out[2]["spans"] == [{"start": 5, "end": 14, "type": "email"}]


def test_a_malformed_line_gets_an_error_object_and_the_stream_goes_on():
    stdin = (
        b'{"text": "cpf '
        + SECRET_CPF.encode()
        + b'", "lang": "pt"\n'  # truncated JSON holding a CPF
        + b'["not", "an object"]\n'
        + b'{"text": 42}\n'
        + b'{"text": "ok", "lang": 7}\n'
        + b"\xff\xfe not utf-8\n"
        + b"\n"
        + b'{"text": "cpf '
        + SECRET_CPF.encode()
        + b'"}\n'
    )
    result = run_cli(stdin)
    assert result.returncode == 0
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(out) == 7
    assert all(o["text"] == "" and o["spans"] == [] and o["error"] for o in out[:6])
    assert out[6] == {"text": "cpf [CPF]", "spans": [{"start": 4, "end": 18, "type": "cpf"}]}
    # no input text is ever echoed, not in error objects, not on standard error
    assert SECRET_CPF not in result.stdout.decode()
    assert SECRET_CPF.encode() not in result.stderr


def test_empty_input_gives_empty_output():
    result = run_cli(b"")
    assert (result.returncode, result.stdout) == (0, b"")


def test_non_ascii_text_keeps_its_characters_and_code_point_offsets():
    text = "olá 😊 meu cpf é 123.456.789-09"
    result = run_cli((json.dumps({"text": text}, ensure_ascii=False) + "\n").encode())
    out = json.loads(result.stdout)
    span = out["spans"][0]
    assert text[span["start"] : span["end"]] == SECRET_CPF
    assert out["text"] == "olá 😊 meu cpf é [CPF]"
