"""habeas.pii detection: each type found with exact offsets, look-alikes left alone, masking styles."""

import pytest

from habeas.pii import MaskStyle, Redaction, Span, detect, redact

pytestmark = pytest.mark.unit


def found(text: str, lang: str | None = None, **kwargs) -> list[tuple[str, str]]:
    """(value, type) for every span, read back from the input through the offsets."""
    return [(text[s.start : s.end], s.type) for s in detect(text, lang, **kwargs)]


@pytest.mark.parametrize(
    ("text", "lang", "value", "kind"),
    [
        # cards: Luhn-valid, in issuer ranges, bare, spaced, dashed
        ("mi tarjeta es 4111 1111 1111 1111 gracias", "es", "4111 1111 1111 1111", "card"),
        ("cartão 5555-5555-5555-4444 bloqueado", "pt", "5555-5555-5555-4444", "card"),
        ("amex 378282246310005 please", "en", "378282246310005", "card"),
        ("amex 3782 822463 10005", "en", "3782 822463 10005", "card"),
        ("mastercard 2-series 2223000048400011", "en", "2223000048400011", "card"),
        ("pagué 2 4111 1111 1111 1111", "es", "4111 1111 1111 1111", "card"),
        # e-mail
        ("escribime a Ana.Perez+compras@correo.com.ar!", "es", "Ana.Perez+compras@correo.com.ar", "email"),
        # phones, national and international formats
        ("me liga no (11) 98765-4321", "pt", "(11) 98765-4321", "phone"),
        ("zap +55 11 98765-4321", "pt", "+55 11 98765-4321", "phone"),
        ("call me at (212) 555-0143", "en", "(212) 555-0143", "phone"),
        ("whatsapp +54 9 11 5192-9584", "es", "+54 9 11 5192-9584", "phone"),
        ("mi cel 300 123 4567", "es", "300 123 4567", "phone"),
        ("llámenme al 612 34 56 78", "es", "612 34 56 78", "phone"),
        ("cel 0034 612 345 678", "es", "0034 612 345 678", "phone"),
        ("mi número es 55 1234 5678", "es", "55 1234 5678", "phone"),
        # Brazil
        ("meu cpf é 123.456.789-09", "pt", "123.456.789-09", "cpf"),
        ("cpf 12345678909", "pt", "12345678909", "cpf"),
        ("cnpj 11.222.333/0001-81", "pt", "11.222.333/0001-81", "cnpj"),
        ("cnpj 11222333000181", "pt", "11222333000181", "cnpj"),
        # Spain
        ("mi DNI es 12345678Z", "es", "12345678Z", "dni"),
        ("NIF: 12345678-z", "es", "12345678-z", "dni"),
        ("mi NIE es X1234567L", "es", "X1234567L", "nie"),
        # Chile
        ("mi rut es 12.345.678-5", "es", "12.345.678-5", "rut"),
        ("RUT: 12345678-5", "es", "12345678-5", "rut"),
        ("rut 123456785", "es", "123456785", "rut"),
        # Argentina
        ("mi DNI es 30.123.456", "es", "30.123.456", "dni"),
        ("nro de documento 30123456", "es", "30123456", "dni"),
        ("CUIT 20-12345678-6", "es", "20-12345678-6", "cuit"),
        # Mexico
        ("mi CURP es GODE561231HDFRRN00", "es", "GODE561231HDFRRN00", "curp"),
        ("curp gode561231hdfrrn00", "es", "gode561231hdfrrn00", "curp"),
        ("RFC GODE561231GR8", "es", "GODE561231GR8", "rfc"),
        # a company RFC whose only letter-digit junction is an Ñ or & before the date
        ("mi RFC es MUÑ800101AAA", "es", "MUÑ800101AAA", "rfc"),
        ("RFC de la empresa: ABC&800101AB1", "es", "ABC&800101AB1", "rfc"),
        # Colombia
        ("mi cédula es 1.023.456.789", "es", "1.023.456.789", "cedula"),
        ("c.c. 1023456789", "es", "1023456789", "cedula"),
        # US
        ("my SSN is 078-05-1121", "en", "078-05-1121", "ssn"),
        ("ssn 078051121", "en", "078051121", "ssn"),
        # IBAN, grouped and compact, followed by words that must not be swallowed
        ("IBAN ES91 2100 0418 4502 0005 1332 por favor", "es", "ES91 2100 0418 4502 0005 1332", "iban"),
        ("refund to GB29NWBK60161331926819 thanks", "en", "GB29NWBK60161331926819", "iban"),
        # IP addresses
        ("mi ip es 192.168.0.14", "es", "192.168.0.14", "ip"),
        ("blocked from 2001:db8:85a3::8a2e:370:7334 today", "en", "2001:db8:85a3::8a2e:370:7334", "ip"),
    ],
)
def test_each_type_is_found_with_exact_offsets(text, lang, value, kind):
    assert (value, kind) in found(text, lang)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("el pedido 1234567890 no llegó", "es"),
        ("pedido nº 12377680284", "pt"),
        ("order #48213377 never arrived", "en"),
        ("order no. 2384465653 still processing", "en"),
        ("o protocolo é 2024123456789", "pt"),
        ("tracking number 9400 1111 2222 3333 4444 55", "en"),
        ("código de rastreio QB123456785BR", "pt"),
        ("código de seguimiento 2386 4266 9505", "es"),
        ("lo compré el 12/05/2023", "es"),
        ("llegaba el 2023-05-12", "es"),
        ("comprei dia 12.05.2023", "pt"),
        ("me llamaron a las 14:30", "es"),
        ("me cobraron $ 1.234.567", "es"),
        ("paguei R$ 1.234,56", "pt"),
        ("total was $3,260,589.32", "en"),
        ("cuesta 1.234.567 pesos", "es"),
        ("la referencia del cargo es 4111 1111 1111 1112", "es"),  # Luhn-invalid card
        ("ref 123.456.789-00", "pt"),  # CPF with bad check digits
        ("folio 12.345.678-4", "es"),  # RUT with a bad check digit
        ("la referencia es 12345678A", "es"),  # DNI with the wrong control letter
        ("transfer reference ES00 2100 0418 4502 0005 1332", "en"),  # bad IBAN check digits
        ("versão 1.2.3.4 do app", "pt"),
        ("2024202420242024", "en"),  # 16 digits outside every issuer range
    ],
)
def test_look_alikes_are_left_alone(text, lang):
    assert found(text, lang) == []


def test_ids_with_letters_are_found_wherever_they_sit_among_numbers():
    text = "IBAN ES91 2100 0418 4502 0005 1332, NIE X-1234567-L, cpf 123.456.789-09 e curp GODE561231HDFRRN00"
    assert found(text, "es") == [
        ("ES91 2100 0418 4502 0005 1332", "iban"),
        ("X-1234567-L", "nie"),
        ("123.456.789-09", "cpf"),
        ("GODE561231HDFRRN00", "curp"),
    ]
    # a NIE whose digits also read as a number, and one after "&"
    assert found("x 1234567L", "es") == [("x 1234567L", "nie")]
    assert found("doc&X1234567L", "es") == []  # inside a token: not an id of its own


def test_an_iban_does_not_hide_the_id_written_after_it():
    text = "IBAN: ES91 2100 0418 4502 0005 1332 y X1234567L"
    assert found(text, "es") == [("ES91 2100 0418 4502 0005 1332", "iban"), ("X1234567L", "nie")]
    assert found("guía LP02551010729900 y mi CURP es GODE561231HDFRRN00", "es") == [("GODE561231HDFRRN00", "curp")]


def test_redact_masks_with_typed_placeholders_and_keeps_input_offsets():
    text = "cpf 123.456.789-09, mail ana@x.com"
    result = redact(text, lang="pt")
    assert result.text == "cpf [CPF], mail [EMAIL]"
    assert result.spans == (Span(4, 18, "cpf"), Span(25, 34, "email"))
    assert [text[s.start : s.end] for s in result.spans] == ["123.456.789-09", "ana@x.com"]


def test_keep_last4_style_shows_only_the_last_four_card_digits():
    result = redact("card 5555 5555 5555 4444 ok? 4111111111111111", style=MaskStyle.KEEP_LAST4)
    assert result.text.startswith("card **** **** **** 4444 ok? ")
    assert result.text.endswith("************1111")


def test_keep_last4_style_masks_other_types_as_placeholders():
    assert redact("mail ana@x.com", style="keep_last4").text == "mail [EMAIL]"


def test_text_without_personal_data_comes_back_unchanged():
    assert redact("hola, ¿cómo están? 😊", lang="es") == Redaction("hola, ¿cómo están? 😊", ())


def test_spans_are_ordered_and_do_not_overlap():
    text = "cel +55 11 98765-4321, cpf 12345678909, cartão 4111111111111111, ip 10.0.0.1"
    spans = detect(text, "pt")
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def test_overlapping_candidates_resolve_to_the_most_specific_type():
    # a formatted CPF is also a run of digit groups a phone matcher would consider
    assert found("123.456.789-09", "pt") == [("123.456.789-09", "cpf")]


def test_a_valid_bare_cpf_or_cnpj_is_masked_even_when_called_a_reference():
    # as a card number is: a reference number passes both check digits once in a hundred, and a
    # leaked CPF cannot be taken back (the 11 digits of "pedido nº 12377680284" do not pass)
    assert found("item 12345678909 do pedido", "pt") == [("12345678909", "cpf")]
    assert found("ref 11222333000181", "en") == [("11222333000181", "cnpj")]
    assert found("pedido nº 12377680284", "pt") == []


def test_phone_context_word_wins_over_a_reference_word_earlier_in_the_message():
    assert found("pedido 123, meu cel 11 98765-4321", "pt") == [("11 98765-4321", "phone")]


def test_sender_region_reads_a_national_number_in_that_plan():
    # 9 bare digits starting with 6: a Spanish mobile; an English message alone tries US/GB plans only
    assert found("it is 612345678", "en") == []
    assert found("it is 612345678", "en", default_region="ES") == [("612345678", "phone")]
    assert found("it is 612345678", "en", region="es") == [("612345678", "phone")]


def test_unknown_language_applies_every_language_rules():
    assert found("cpf 123.456.789-09", "fr") == [("123.456.789-09", "cpf")]
    assert found("cpf 123.456.789-09", None) == [("123.456.789-09", "cpf")]


def test_span_reads_as_a_mapping_for_callers_that_expect_dicts():
    span = Span(1, 3, "ip")
    assert span["type"] == "ip"
    assert span.to_dict() == {"start": 1, "end": 3, "type": "ip"}
    assert Redaction("x", (span,)).types == ("ip",)
