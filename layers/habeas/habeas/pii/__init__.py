"""PII redaction for es / pt / en chat text: detect and mask personal data inline, no AWS needed.

    >>> from habeas.pii import redact
    >>> redact("meu cpf é 123.456.789-09", lang="pt").text
    'meu cpf é [CPF]'

Types found: ``card``, ``email``, ``phone``, ``cpf``, ``cnpj``, ``dni`` (Spain and Argentina), ``nie``,
``rut``, ``cuit``, ``curp``, ``rfc``, ``cedula``, ``ssn``, ``iban``, ``ip``. ``python -m habeas.pii``
is the JSON-lines command line of the contract.
"""

from habeas.pii.engine import detect, redact
from habeas.pii.model import MaskStyle, Redaction, Span

__all__ = ["MaskStyle", "Redaction", "Span", "detect", "redact"]
