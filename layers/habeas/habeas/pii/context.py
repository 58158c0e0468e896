"""Context words (es / pt / en) around a candidate: what the writer says the number is.

A bare run of digits can be a DNI, a phone, an order or a tracking number; the words just before it
("pedido", "protocolo", "tracking", "dni", "cel") usually settle which. The nearest keyword wins, so
"pedido 123, mi cel 11 98765-4321" reads the phone as a phone. All languages' words are used for
every message, since customers mix languages ("mi CPF é ...", "my DNI is ...").
"""

from __future__ import annotations

import re

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
    "cedula": _words("cedula cc"),
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
_WORD = re.compile(r"[a-zñ]+")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|\b(?:usd|ars|cop|clp|mxn|brl|eur|pen|uyu))\s?$")
_CURRENCY_AFTER = frozenset(
    _words("usd ars cop clp mxn brl eur pesos peso reais real euros euro dolares dollars dolar dollar bucks")
)
# Where a sentence ends: . ; ! ? before a space (not in "no.", "nro.", "tel."), a line break, a spaced dash.
_SENTENCE_BREAK = re.compile(
    r"(?<!\bno)(?<!\bnro)(?<!\bnum)(?<!\btel)(?<!\bcel)(?<!\bref)(?<!\bn)[.;!?](?:\s|$)|\n|\s-(?:\s|$)"
)
_SENTENCE_END = re.compile(r"[.,;!?](?:\s|$)|\n|\s-\s")
_TOKEN = re.compile(r"[a-zñ]+|,|\d\S*")
_WINDOW_BEFORE = 48  # characters; about five chat words
_WINDOW_AFTER = 24


def context_kind(text: str, start: int, end: int) -> str | None:
    """The category of the nearest keyword around ``text[start:end]``, or None if there is none.

    Looks back up to five words within the value's sentence (a full stop, line break or " - " ends
    it) and stops at another number, so "pedido 123 e meu cel 11 98765-4321" reads the phone as a
    phone. Words that mark a reference or an amount count only inside the value's own clause (no
    comma between), while a document's name may sit before a comma ("my social, it's ..."). Then
    looks ahead two words for a document's name ("12345678 es mi DNI"). A currency sign or code
    right before the value, or a currency word right after it, makes it MONEY.
    """
    before = text[max(0, start - _WINDOW_BEFORE) : start].lower().translate(_FOLD)
    if _CURRENCY_BEFORE.search(before):
        return MONEY
    after = text[end : end + _WINDOW_AFTER].lower().translate(_FOLD)
    if after.startswith(" ") and after.split(None, 1)[:1] and after.split(None, 1)[0] in _CURRENCY_AFTER:
        return MONEY
    if before.rstrip().endswith("#"):
        return NEG  # "#12345": written as a reference number
    sentence = _SENTENCE_BREAK.split(before)[-1]
    crossed_comma = False
    for word in reversed(_TOKEN.findall(sentence)[-6:]):
        if word == ",":
            crossed_comma = True
            continue
        if word[0].isdigit():
            break  # another value: its label is not this one's
        kind = KEYWORD.get(word)
        if kind is not None and not (crossed_comma and kind in (NEG, MONEY)):
            return kind
    cut = _SENTENCE_END.search(after)
    for word in _WORD.findall(after[: cut.start()] if cut else after)[:2]:
        kind = KEYWORD.get(word)
        if kind is not None and kind not in (NEG, MONEY):
            return kind
    return None
