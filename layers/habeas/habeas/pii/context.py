"""Context words (es / pt / en) around a candidate: what the writer says the number is.

A bare run of digits can be a DNI, a phone, an order or a tracking number; the words just before it
("pedido", "protocolo", "tracking", "dni", "cel") usually settle which. The nearest keyword wins, so
"pedido 123, mi cel 11 98765-4321" reads the phone as a phone. All languages' words are used for
every message, since customers mix languages ("mi CPF é ...", "my DNI is ...").
"""

from __future__ import annotations

import re
from functools import lru_cache

# Categories a keyword can point to. NEG means "a reference number, not personal data".
NEG = "neg"
MONEY = "money"
PHONE = "phone"
ID = "id"  # a personal document of unspecified kind (documento, doc, identidad)


def _words(spaced: str) -> list[str]:
    return spaced.split()


_KEYWORDS: dict[str, list[str]] = {
    # Order, tracking, protocol, ticket and billing references: look-alikes that must stay readable.
    NEG: _words(
        "pedido pedidos orden ordenes order orders compra compras purchase protocolo protocolos protocol ticket "
        "tickets caso case reclamo reclamacion claim chamado atendimento solicitud solicitacao incidente incident "
        "tracking rastreo rastreio rastreamento seguimiento guia envio envios shipment shipping objeto paquete "
        "package encomenda codigo code folio ref referencia reference comprobante comprovante receipt boleto "
        "factura fatura invoice resumen extrato statement transaccion transacao transaction operacion operacao "
        "sku producto produto product item lote modelo model serie serial version versao cupon cupom coupon "
        "voucher"
    ),
    MONEY: _words(
        "usd ars cop clp mxn brl eur pesos peso reais real euros euro dolares dollars dolar dollar bucks "
        "cobraron cobraram cobrou cobro charged paid pague pagaste paguei total cuesta custa costs cost price "
        "precio preco valor monto importe amount"
    ),
    PHONE: _words(
        "tel telefono telefone telephone phone fone fijo fixo cel celu celular cell mobile movil whatsapp "
        "whats wsp wpp zap zapzap llamar llamame llamenme llamen llama liga ligar ligue ligam call calls text "
        "texto contacto contato contactarme contatar sms"
    ),
    # "id" alone is left out: "order id", "id do pedido" are references, not documents.
    ID: _words("documento documentos doc identidad identificacion identidade identification ci"),
    "dni": _words("dni nif"),
    "nie": _words("nie extranjero extranjeria"),
    "cpf": ["cpf"],
    "cnpj": ["cnpj"],
    "rut": _words("rut run rol"),
    "cuit": _words("cuit cuil"),
    "curp": ["curp"],
    "rfc": ["rfc"],
    "ssn": _words("ssn social security seguro"),
    "cedula": _words("cedula cc c.c c.c."),
    "iban": _words("iban cuenta conta account bank banco transferencia transfer wire swift bic"),
    "card": _words(
        "tarjeta tarjetas cartao cartoes card cards credito debito credit debit visa master mastercard amex "
        "elo hipercard diners discover"
    ),
    "ip": _words("ip ipv4 ipv6 router roteador servidor server"),
}
KEYWORD: dict[str, str] = {word: kind for kind, words in _KEYWORDS.items() for word in words}

# Accents folded so "teléfono" / "telefono" and "guía" / "guia" read the same (chat text drops accents).
_FOLD = str.maketrans("áàâãäéèêëíìîïóòôõöúùûüç", "aaaaaeeeeiiiiooooouuuuc")
_CURRENCY_CODES = frozenset(_words("usd ars cop clp mxn brl eur pen uyu"))
_CURRENCY_AFTER = frozenset(
    _words("usd ars cop clp mxn brl eur pesos peso reais real euros euro dolares dollars dolar dollar bucks")
)
_CURRENCY_SIGNS = frozenset("$€£¥")
# Abbreviations whose full stop does not end the sentence ("order no. 123", "tel. 11 ...").
_ABBREVIATIONS = frozenset(_words("no nro num n tel cel ref"))
# Words, sentence punctuation (before a space), commas, line breaks, spaced dashes, signs, numbers.
_LETTERS = "a-zñáàâãäéèêëíìîïóòôõöúùûüç"
_BEFORE = re.compile(r"c\.c\.?|[" + _LETTERS + r"]+|[.;!?](?=\s|$)|,|\n|\s-(?=\s|$)|[$€£¥#]|\d\S*")
_AFTER = re.compile(r"[" + _LETTERS + r"]+|[.,;!?\n]|\s-\s|\d")
_SENTENCE_BREAKS = frozenset([".", ";", "!", "?", "\n"])
_WINDOW_BEFORE = 48  # characters; about five chat words
_WINDOW_AFTER = 24


@lru_cache(maxsize=4096)
def _folded_word(word: str) -> str:
    return word.translate(_FOLD)


def _keyword(word: str) -> str | None:
    """The category of one lower-cased word; accents are folded per word (str.translate over a whole
    message costs more than the rest of the context reading)."""
    kind = KEYWORD.get(word)
    if kind is None and not word.isascii():
        kind = KEYWORD.get(_folded_word(word))
    return kind


def context_kind(text: str, start: int, end: int, lowered: str | None = None) -> str | None:
    """The category of the nearest keyword around ``text[start:end]``, or None if there is none.

    Looks back up to six words within the value's sentence (a full stop, line break or " - " ends
    it) and stops at another number, so "pedido 123 e meu cel 11 98765-4321" reads the phone as a
    phone. Words that mark a reference or an amount count only inside the value's own clause (no
    comma between), while a document's name may sit before a comma ("my social, it's ..."). Then
    looks ahead two words for a document's name ("12345678 es mi DNI"). A currency sign or code
    right before the value, or a currency word right after it, makes it MONEY.
    """
    if lowered is not None and len(lowered) == len(text):
        # Regexes run on the message's lower-cased text between pos and endpos (as if sliced there).
        before, b0, b1 = lowered, max(0, start - _WINDOW_BEFORE), start
        after, a0, a1 = lowered, end, end + _WINDOW_AFTER
    else:  # a few characters lower-case to two ("İ"): lower the windows on their own
        before = text[max(0, start - _WINDOW_BEFORE) : start].lower()
        after = text[end : end + _WINDOW_AFTER].lower()
        b0, b1, a0, a1 = 0, len(before), 0, len(after)
    if text[end : end + 1] == " ":
        first = _AFTER.search(after, a0, a1)
        if first is not None and first.group() in _CURRENCY_AFTER:
            return MONEY
    pieces = _BEFORE.findall(before, b0, b1)
    if pieces:  # right before the value
        last = pieces[-1]
        if last in _CURRENCY_SIGNS or last in _CURRENCY_CODES:
            return MONEY
        if last == "#":
            return NEG  # "#12345": written as a reference number
    crossed_comma = False
    words = 0
    for i in range(len(pieces) - 1, -1, -1):
        piece = pieces[i]
        head = piece[0]
        if head.isalpha():  # most pieces are words: tested first
            kind = KEYWORD.get(piece)  # _keyword(piece), inlined
            if kind is None and not piece.isascii():
                kind = KEYWORD.get(_folded_word(piece))
            if kind is not None and not (crossed_comma and kind in (NEG, MONEY)):
                return kind
            words += 1
            if words == 6:
                break
        elif piece == ",":
            crossed_comma = True
        elif piece in _SENTENCE_BREAKS or head in " \t":
            if piece != "." or i == 0 or pieces[i - 1] not in _ABBREVIATIONS:
                break
        elif head.isdigit():
            break  # another value: its label is not this one's
    for seen, match in enumerate(_AFTER.finditer(after, a0, a1), 1):  # the next two words
        piece = match.group()
        if not piece[0].isalpha():
            break
        kind = _keyword(piece)
        if kind is not None and kind not in (NEG, MONEY):
            return kind
        if seen == 2:
            break
    return None


class Context:
    """``context_kind`` for one text, remembered per span (several finders ask about the same number)."""

    __slots__ = ("_lowered", "_seen", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._lowered: str | None = None
        self._seen: dict[tuple[int, int], str | None] = {}

    def __call__(self, start: int, end: int) -> str | None:
        key = (start, end)
        kind = self._seen.get(key, _UNSEEN)  # not try/except: most calls are first asks
        if kind is _UNSEEN:
            if self._lowered is None:
                self._lowered = self._text.lower()  # once per message, not once per window
            kind = self._seen[key] = context_kind(self._text, start, end, self._lowered)
        return kind  # type: ignore[return-value]


_UNSEEN = object()
