"""Keywords and phrases for rights in a chat: es/pt/en, case-, accent- and punctuation-insensitive."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from habeas.channels.keywords import fold, keywords

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "intent", "language"),
    [
        ("STOP", "opt_out", "en"),
        ("baja", "opt_out", "es"),
        ("¡BAJA!", "opt_out", "es"),
        ("SAIR", "opt_out", "pt"),
        ("Unsubscribe", "opt_out", "en"),
        ("no quiero recibir más mensajes, gracias", "opt_out", "es"),
        ("Por favor, BORRAR MIS DATOS", "erasure", "es"),
        ("quero que vocês apaguem meus dados", "erasure", "pt"),
        ("Please delete my data now", "erasure", "en"),
        ("Quiero mis datos", "access", "es"),
        ("quero meus dados", "access", "pt"),
        ("my data", "access", "en"),
    ],
)
def test_rights_are_recognised_in_each_language(text, intent, language):
    match = keywords().match(text)
    assert match is not None and match.intent == intent
    assert keywords().language_for(match, None) == language


@pytest.mark.parametrize(
    "text",
    [
        "hola, ¿a qué hora abren?",
        "stop by the store tomorrow?",  # STOP only counts as the whole message
        "what about my data plan",  # "my data" alone is access only as the whole message
        "sim",  # a bare yes is not a request
        "",
        None,
    ],
)
def test_ordinary_messages_ask_for_nothing(text):
    assert keywords().match(text) is None


def test_erasure_wins_over_access_when_both_phrases_appear():
    assert keywords().match("delete my data").intent == "erasure"


@pytest.mark.parametrize(
    ("word", "region", "language"),
    [
        ("PARAR", "ES", "es"),
        ("PARAR", "BR", "pt"),
        ("cancelar", "MX", "es"),
        ("STOP", "PT", "pt"),
        ("STOP", None, "en"),
    ],
)
def test_a_word_shared_by_languages_is_answered_in_the_senders_country_language(word, region, language):
    assert keywords().language_for(keywords().match(word), region) == language


def test_confirmations_are_only_matched_when_asked_for():
    assert keywords().match("Sí", intents=("confirm", "cancel")).intent == "confirm"
    assert keywords().match("NÃO", intents=("confirm", "cancel")).intent == "cancel"


_CASES = st.sampled_from(["baja", "sair", "borrar mis datos", "apagar meus dados", "quero meus dados"])


@given(_CASES, st.lists(st.booleans(), min_size=20, max_size=20), st.sampled_from(["", "!", "¡", ".", "  ", "?"]))
def test_case_accents_and_punctuation_do_not_matter(phrase, upper, punctuation):
    varied = "".join(ch.upper() if flip else ch for ch, flip in zip(phrase, upper * 3, strict=False))
    accented = varied.replace("a", "á").replace("o", "ó")
    assert keywords().match(punctuation + accented + punctuation) == keywords().match(phrase)


@given(st.text(max_size=60))
def test_fold_is_idempotent_and_accent_free(text):
    folded = fold(text)
    assert fold(folded) == folded
    assert not any(unicodedata.combining(ch) for ch in folded)
