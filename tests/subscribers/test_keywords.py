"""What citizens actually type, and the intent the service must read from it."""

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscribers.keywords import (
    COURTESY_PHRASES,
    DEFAULT_KEYWORDS,
    MAX_WORDS,
    Intent,
    KeywordMatcher,
    match_keyword,
    normalise,
)

SUBSCRIBE, UNSUBSCRIBE, HELP, OTHER = (
    Intent.SUBSCRIBE,
    Intent.UNSUBSCRIBE,
    Intent.HELP,
    Intent.OTHER,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The keywords as printed on the comune's posters.
        ("Iscrivimi", SUBSCRIBE),
        ("Cancellami", UNSUBSCRIBE),
        ("Info", HELP),
        # Case, accents and whitespace.
        ("iscrivimi", SUBSCRIBE),
        ("ISCRIVIMI", SUBSCRIBE),
        ("ISCRÌVIMI", SUBSCRIBE),
        ("Cancellàmi", UNSUBSCRIBE),
        ("  Cancellami \n", UNSUBSCRIBE),
        ("Mi   iscrivo", SUBSCRIBE),
        ("mi\tiscrivo", SUBSCRIBE),
        ("Annulla   iscrizione", UNSUBSCRIBE),
        ("ANNULLA ISCRIZIONE.", UNSUBSCRIBE),
        # Punctuation and emoji.
        ("Iscrivimi!!!", SUBSCRIBE),
        ("iscrivimi.", SUBSCRIBE),
        ("Iscrivimi 🙏", SUBSCRIBE),
        ("Iscrivimi🙏🙏", SUBSCRIBE),
        ("👍 cancellami", UNSUBSCRIBE),
        ("STOP", UNSUBSCRIBE),
        ("Stop.", UNSUBSCRIBE),
        ("stop!", UNSUBSCRIBE),
        ("Basta!!", UNSUBSCRIBE),
        ("Aiuto?", HELP),
        ("*Info*", HELP),
        # Courtesies at either end, alone or stacked.
        ("Iscrivimi grazie", SUBSCRIBE),
        ("Iscrivimi per favore", SUBSCRIBE),
        ("Iscrivimi, perfavore", SUBSCRIBE),
        ("Buongiorno, iscrivimi", SUBSCRIBE),
        ("Buon giorno! Mi iscrivo, grazie mille 😊", SUBSCRIBE),
        ("ciao iscrivimi", SUBSCRIBE),
        ("salve cancellami grazie mille", UNSUBSCRIBE),
        ("Buonasera, gentilmente cancellami. Grazie", UNSUBSCRIBE),
        ("Salve, vorrei iscrivermi", SUBSCRIBE),
        ("Stop please", UNSUBSCRIBE),
        ("Info grazie", HELP),
        # One typo in a long enough keyword.
        ("Iscrivmi", SUBSCRIBE),
        ("Iscrivimmi", SUBSCRIBE),
        ("Iscirvimi", SUBSCRIBE),
        ("Iscriviti", SUBSCRIBE),
        ("Cancellam", UNSUBSCRIBE),
        ("Cancelami", UNSUBSCRIBE),
        ("cancellati grazie", UNSUBSCRIBE),
        ("Disiscrivmi", UNSUBSCRIBE),
        ("miiscrivo", SUBSCRIBE),
        ("Informazoni", HELP),
        # Short keywords only match exactly: their typos are other words.
        ("Stpo", OTHER),
        ("Sto", OTHER),
        ("Pasta", OTHER),
        ("Esce", OTHER),
        ("Inf", OTHER),
        # Two typos are too many.
        ("Iscrvmi", OTHER),
        ("Canclam", OTHER),
        # Sentences that merely contain a keyword are for a human to read.
        ("non voglio iscrivermi più", OTHER),
        ("come faccio a cancellarmi?", OTHER),
        ("Non cancellami", OTHER),
        ("Iscrivimi e cancellami", OTHER),
        ("stop alle auto in centro domani?", OTHER),
        ("info sulla raccolta differenziata", OTHER),
        # Nothing to read.
        ("", OTHER),
        ("   ", OTHER),
        ("🙏", OTHER),
        ("?!", OTHER),
        ("Grazie", OTHER),
        ("ciao grazie", OTHER),
        (None, OTHER),
    ],
)
def test_what_citizens_type(text: str | None, expected: Intent) -> None:
    assert match_keyword(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cancellàmi!!", "cancellami"),
        ("  Mi\t iscrivo 🙏 ", "mi iscrivo"),
        ("ISCRÌVIMI", "iscrivimi"),
        ("İscrivimi", "iscrivimi"),
        ("Straße", "strasse"),
        ("ﬁne", "fine"),
        ("👍🏻,.;", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_every_default_keyword_matches_its_intent() -> None:
    for intent, words in DEFAULT_KEYWORDS.items():
        for word in words:
            assert match_keyword(word) is intent, word


def test_a_typo_between_keywords_of_two_intents_is_not_guessed() -> None:
    matcher = KeywordMatcher({SUBSCRIBE: ["Attivare"], UNSUBSCRIBE: ["Attivate"]})
    assert matcher.match("Attivare") is SUBSCRIBE
    assert matcher.match("Attivate") is UNSUBSCRIBE
    assert matcher.match("Attivame") is OTHER  # one edit from both


def test_min_fuzzy_length_is_configurable() -> None:
    assert KeywordMatcher(min_fuzzy_length=4).match("Stpo") is UNSUBSCRIBE
    assert KeywordMatcher(min_fuzzy_length=20).match("Iscrivmi") is OTHER


@pytest.mark.parametrize(
    "keywords",
    [
        {SUBSCRIBE: ["Iscrivimi"], UNSUBSCRIBE: ["iscrivimi!"]},
        {SUBSCRIBE: ["Iscrìvimi"], HELP: ["ISCRIVIMI"]},
        {SUBSCRIBE: ["Mi iscrivo"], UNSUBSCRIBE: ["mi-iscrivo"]},
    ],
)
def test_a_keyword_shared_by_two_intents_is_rejected(keywords: dict[Intent, list[str]]) -> None:
    with pytest.raises(ValueError, match="both"):
        KeywordMatcher(keywords)


@pytest.mark.parametrize(
    "keywords",
    [
        {SUBSCRIBE: ["🙏"]},
        {SUBSCRIBE: ["Iscrivimi"], OTHER: ["Boh"]},
        {"iscrizione": ["Iscrivimi"]},
    ],
)
def test_unusable_configurations_are_rejected(keywords: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError):
        KeywordMatcher(keywords)


def test_the_same_keyword_twice_for_one_intent_is_fine() -> None:
    matcher = KeywordMatcher({SUBSCRIBE: ["Iscrivimi", "ISCRIVIMI!"]})
    assert matcher.match("iscrivimi") is SUBSCRIBE


ENGLISH = {
    SUBSCRIBE: ("Subscribe", "Join"),
    UNSUBSCRIBE: ("Unsubscribe", "Stop"),
    HELP: ("Help",),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Subscribe", SUBSCRIBE),
        ("JOIN please", SUBSCRIBE),
        ("Unsubscibe", UNSUBSCRIBE),
        ("stop, thank you 👋", UNSUBSCRIBE),
        ("help?", HELP),
        ("Iscrivimi", OTHER),
        ("Cancellami", OTHER),
    ],
)
def test_a_custom_english_keyword_set(text: str, expected: Intent) -> None:
    assert KeywordMatcher(ENGLISH).match(text) is expected
    assert match_keyword(text, ENGLISH) is expected


def test_settings_may_name_intents_as_plain_strings() -> None:
    matcher = KeywordMatcher({"subscribe": ["Entra"], "unsubscribe": ["Esci"]})
    assert matcher.match("entra!") is SUBSCRIBE
    assert matcher.match("esci") is UNSUBSCRIBE


# --- Properties -------------------------------------------------------------------------------

DEFAULT_PAIRS = [(intent, word) for intent, words in DEFAULT_KEYWORDS.items() for word in words]
# Emoji and punctuation without letters or digits (so no keycap digits such as "1️⃣").
NOISE = ["🙏", "👍", "👍🏻", "😊", "❤️", "👋", "!", "!!!", "?", ".", "...", ",", ":)", "*", "-"]
SEPARATORS = [" ", ", ", "! ", ". ", "... ", "\n", " - "]
CASINGS = [str.lower, str.upper, str.title, str.capitalize, lambda text: text]


@given(st.text())
def test_match_never_raises(text: str) -> None:
    assert match_keyword(text) in Intent


@given(
    st.lists(
        st.text(alphabet=st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1),
        min_size=MAX_WORDS + 1,
    ),
    st.sampled_from(SEPARATORS),
)
def test_long_messages_are_never_commands(words: list[str], separator: str) -> None:
    assert match_keyword(separator.join(words)) is OTHER


def _decoration(max_items: int) -> st.SearchStrategy[list[str]]:
    """Up to max_items courtesy phrases or bits of noise, as a citizen might add them."""
    return st.lists(st.sampled_from([*COURTESY_PHRASES, *NOISE]), max_size=max_items)


@given(
    st.sampled_from(DEFAULT_PAIRS),
    _decoration(2),
    _decoration(2),
    st.sampled_from(SEPARATORS),
    st.sampled_from(CASINGS),
)
def test_courtesy_and_noise_around_a_keyword_keep_its_intent(
    pair: tuple[Intent, str],
    before: list[str],
    after: list[str],
    separator: str,
    casing: Callable[[str], str],
) -> None:
    intent, word = pair
    message = separator.join([*before, word, *after])
    assert match_keyword(casing(message)) is intent, message
