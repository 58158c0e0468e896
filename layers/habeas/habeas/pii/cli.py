"""The contract's command line: JSON lines in, one redaction per line out.

Input lines are ``{"text": "...", "lang": "es"|"pt"|"en"}`` (``lang`` optional). Each gets exactly one
output line, ``{"text": "<redacted>", "spans": [{"start", "end", "type"}]}``; a line that cannot be
read gets ``{"text": "", "spans": [], "error": "..."}`` instead, so one bad line never stops the
stream. Neither output nor standard error ever carries input text. The exit status is non-zero
only when reading or writing fails.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import BinaryIO

from habeas.pii import phones
from habeas.pii.engine import find, masked, redact

# json.dumps(value, ensure_ascii=False) for a str, without building an encoder on every call.
_json_string = json.encoder.encode_basestring
_scan_json = json.JSONDecoder().scan_once  # the C scanner json.loads ends up in


def _parse(line: bytes) -> object:
    """``json.loads(line)``, a third of the cost for a line that starts with "{": json.loads on bytes
    first guesses the encoding in Python (a "{" and no NUL after it is UTF-8 by its rules), then
    wraps the scanner in two more Python calls. Anything else goes to json.loads itself. Raises
    ValueError or UnicodeDecodeError where json.loads would."""
    if line[:1] != b"{" or line[1:2] == b"\x00":
        return json.loads(line)
    text = line.decode("utf-8", "surrogatepass")
    try:
        value, end = _scan_json(text, 0)
    except StopIteration as error:  # how the scanner says "expecting a value"; json.loads says it so
        raise ValueError("expecting a JSON value") from error
    if end != len(text) and text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON value")
    return value


# One of each kind, made-up values with valid check digits, in the formats chat users type.
_WARM_UP = (
    "mail ana@example.com tel +55 11 98765-4321 (55) 1234-5678 cel 300 123 4567 cpf 123.456.789-09 "
    "cnpj 11.222.333/0001-81 card 4111 1111 1111 1111 ip 10.0.0.1 iban ES91 2100 0418 4502 0005 1332 "
    "rut 12.345.678-5 dni 12.345.678 nie X1234567L dni 12345678Z ssn 078-05-1121 curp GODE561231HDFRRN00 "
    "rfc GODE561231GR8 cuit 20-12345678-6 pedido 1234567"
)
_EXPECTED = 'expected a JSON object {"text": string, "lang": "es"|"pt"|"en" (optional)}'


def _error(message: str) -> bytes:
    return json.dumps({"text": "", "spans": [], "error": message}).encode() + b"\n"


def _one(line: bytes) -> bytes:
    """The output line for one input line (never raises for bad input)."""
    try:
        message = _parse(line)
    except (ValueError, UnicodeDecodeError):
        return _error("invalid JSON or UTF-8: " + _EXPECTED)
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return _error(_EXPECTED)
    lang = message.get("lang")
    if lang is not None and not isinstance(lang, str):
        return _error(_EXPECTED)
    text = message["text"]
    try:
        found = find(text, lang)
        out_text = masked(text, found)
    except Exception as error:  # noqa: BLE001 - one message must not stop the stream
        # The exception's type only: its message could quote the input.
        sys.stderr.write(f"habeas.pii: internal error ({type(error).__name__}) on one line\n")
        return _error("internal error")
    if not found:
        return f'{{"text": {_json_string(text)}, "spans": []}}\n'.encode("utf-8", "surrogatepass")
    # Spans formatted directly: their fields are ints and the engine's own type names, and a dict
    # per span through json.dumps costs as much as a third of the detection.
    spans = ", ".join([f'{{"start": {s}, "end": {e}, "type": "{t}"}}' for s, e, t, _ in found])
    return f'{{"text": {_json_string(out_text)}, "spans": [{spans}]}}\n'.encode("utf-8", "surrogatepass")


def _is_regular_file(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):
        return False


def warm_up() -> None:
    """Load what the engine otherwise loads on first use (numbering plans, python-stdnum's tables)
    before the first line is read, so the first messages are not slower than the rest."""
    for lang in ("es", "pt", "en", None):
        redact(_WARM_UP, lang=lang)
    phones.load_plans()


def run(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Redact every line of ``stdin`` onto ``stdout``; 0 on success, 1 if I/O fails."""
    warm_up()
    # Reading a file (a batch): let the output buffer fill. Reading a pipe or terminal: answer each
    # line as it comes, since the writer may be waiting for it.
    interactive = not _is_regular_file(stdin)
    try:
        for line in stdin:
            if not line.strip():
                stdout.write(_error("empty line: " + _EXPECTED))
            else:
                stdout.write(_one(line))
            if interactive:
                stdout.flush()
        stdout.flush()
    except OSError as error:
        sys.stderr.write(f"habeas.pii: I/O error ({type(error).__name__})\n")
        return 1
    return 0


def main() -> int:
    """Entry point of ``python -m habeas.pii``."""
    return run(sys.stdin.buffer, sys.stdout.buffer)
