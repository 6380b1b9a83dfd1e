"""Recognise what a citizen wants from a short inbound WhatsApp message.

Citizens subscribe and leave by writing a keyword ("Iscrivimi", "Cancellami"), but they type on
phones: capitals, accents, punctuation, emoji, a "grazie" at the end and the odd typo are normal.
Asking them to retype the exact word would lose subscribers and, worse, keep people who asked to
leave, so the matching here is forgiving about the form of the message while staying strict about
its content: only a message that *is* a keyword (give or take courtesies and one typo) counts, never
a sentence that merely contains one ("non voglio iscrivermi più").

Pure Python on purpose: it runs for every inbound message and is tested without Django.
"""

from __future__ import annotations

import enum
import functools
import unicodedata
from collections.abc import Iterable, Mapping


class Intent(enum.StrEnum):
    """What an inbound message asks for; OTHER means "not a command", never an error."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    HELP = "help"
    OTHER = "other"


DEFAULT_KEYWORDS: dict[Intent, tuple[str, ...]] = {
    Intent.SUBSCRIBE: (
        "Iscrivimi",
        "Iscrivi",
        "Iscrizione",
        "Mi iscrivo",
        "Iscrivermi",
        "Voglio iscrivermi",
        "Vorrei iscrivermi",
        "Attiva",
        "Start",
    ),
    Intent.UNSUBSCRIBE: (
        "Cancellami",
        "Cancella",
        "Cancellazione",
        "Disiscrivimi",
        "Annulla iscrizione",
        "Rimuovimi",
        "Disattiva",
        "Basta",
        "Esci",
        "Stop",
    ),
    Intent.HELP: (
        "Info",
        "Informazioni",
        "Aiuto",
        "Help",
        "Istruzioni",
    ),
}

# Greetings and thanks people wrap around a command. They are stripped only from the ends of a
# message, so "grazie" in the middle of a sentence still makes it a sentence.
COURTESY_PHRASES: tuple[str, ...] = (
    "grazie",
    "grazie mille",
    "mille grazie",
    "grazie tante",
    "per favore",
    "perfavore",
    "per piacere",
    "per cortesia",
    "prego",
    "ciao",
    "salve",
    "buongiorno",
    "buon giorno",
    "buonasera",
    "buona sera",
    "buonpomeriggio",
    "buon pomeriggio",
    "gentilmente",
    "cortesemente",
    "please",
    "thanks",
    "thank you",
)

# A message with more words than this is a conversation for a human, not a command; the bound also
# keeps stripping courtesies from turning a long greeting-laden text into a keyword.
MAX_WORDS = 12

# One typo in a short word lands on other real words ("basta" -> "pasta", "esci" -> "esce"), so
# only keywords at least this long (after normalisation) are matched with a typo.
MIN_FUZZY_LENGTH = 6


def normalise(text: str) -> str:
    """Reduce text to lowercase unaccented alphanumeric words separated by single spaces.

    Casefolding first lets its output (e.g. the dotted "i̇" from "İ") lose its marks too. Anything
    that is not a letter or digit, including emoji and punctuation, becomes a word separator.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = (
        char if char.isalnum() else " " for char in decomposed if not unicodedata.combining(char)
    )
    return " ".join("".join(kept).split())


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment (restricted Damerau-Levenshtein) distance, capped at limit + 1.

    Only "within one typo?" matters to the matcher, so the search stops as soon as the distance
    must exceed the limit: every alignment passes through each row with a cost no greater than its
    final one, hence a row whose minimum exceeds the limit settles the answer.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before_previous[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before_previous, previous = previous, current
    return min(previous[-1], limit + 1)


class KeywordMatcher:
    """Maps a message to an Intent using one configurable set of keywords.

    Keywords are normalised once here, so matching a message costs one normalisation, a dictionary
    lookup and, only when that fails, a bounded typo check against a few dozen short strings.
    """

    def __init__(
        self,
        keywords: Mapping[Intent, Iterable[str]] = DEFAULT_KEYWORDS,
        *,
        min_fuzzy_length: int = MIN_FUZZY_LENGTH,
    ) -> None:
        """Normalise and validate the keywords.

        Raises ValueError when a keyword is claimed by two intents (the message would be
        ambiguous), is given for Intent.OTHER, or normalises to nothing (it could never match).
        """
        self._min_fuzzy_length = min_fuzzy_length
        self._exact: dict[str, Intent] = {}
        for key, words in keywords.items():
            intent = Intent(key)  # also accepts the plain strings of a settings file
            if intent is Intent.OTHER:
                raise ValueError("Intent.OTHER means 'no keyword matched'; it takes no keywords")
            for word in words:
                normalised = normalise(word)
                if not normalised:
                    raise ValueError(f"Keyword {word!r} has no letters or digits")
                claimed_by = self._exact.setdefault(normalised, intent)
                if claimed_by is not intent:
                    raise ValueError(
                        f"Keyword {word!r} ({normalised!r}) is given for both "
                        f"{claimed_by.value!r} and {intent.value!r}"
                    )
        # Longest phrases first, so "grazie mille" goes as a whole rather than leaving "mille".
        self._courtesies = sorted(
            (tuple(normalise(phrase).split()) for phrase in COURTESY_PHRASES), key=len, reverse=True
        )

    def match(self, text: str | None) -> Intent:
        """Return the intent the whole message expresses, or Intent.OTHER."""
        words = normalise(text or "").split()
        if len(words) > MAX_WORDS:
            return Intent.OTHER
        while words:
            intent = self._exact.get(" ".join(words))
            if intent is not None:
                return intent
            stripped = self._strip_one_courtesy(words)
            if stripped is None:
                break
            words = stripped
        return self._match_typo(" ".join(words)) if words else Intent.OTHER

    def _strip_one_courtesy(self, words: list[str]) -> list[str] | None:
        """Drop one courtesy phrase from the start or the end of words, if there is one."""
        for phrase in self._courtesies:
            size = len(phrase)
            if tuple(words[:size]) == phrase:
                return words[size:]
            if tuple(words[-size:]) == phrase:
                return words[:-size]
        return None

    def _match_typo(self, candidate: str) -> Intent:
        """Accept one typo only when every keyword that close agrees on the intent.

        A message one edit away from keywords of two intents is left as OTHER rather than guessed,
        and at least one of the close keywords must be long enough for a typo to be unambiguous.
        """
        close = [
            (keyword, intent)
            for keyword, intent in self._exact.items()
            if _osa_distance(candidate, keyword, 1) == 1
        ]
        intents = {intent for _, intent in close}
        if len(intents) == 1 and any(len(kw) >= self._min_fuzzy_length for kw, _ in close):
            return intents.pop()
        return Intent.OTHER


@functools.cache
def _default_matcher() -> KeywordMatcher:
    """The matcher for DEFAULT_KEYWORDS, built on first use and shared afterwards."""
    return KeywordMatcher()


def match_keyword(
    text: str | None, keywords: Mapping[Intent, Iterable[str]] | None = None
) -> Intent:
    """Return the intent of an inbound message, using DEFAULT_KEYWORDS unless keywords are given.

    Custom keywords are validated and normalised on every call; callers matching many messages
    against the same custom set should keep a KeywordMatcher instead.
    """
    if keywords is None:
        return _default_matcher().match(text)
    return KeywordMatcher(keywords).match(text)
