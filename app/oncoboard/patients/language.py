"""Which language a note is written in, read from its words rather than from its metadata.

A text model reads the languages it was trained on; a note filed as French but written in
German (a letter from a referring centre), or filed with no language at all, must not be scored
as if the model could read it. The guess counts the function words of each language (articles,
pronouns, prepositions, auxiliaries: what every sentence has whatever its subject) and a few
words clinical notes use all the time. It answers only when the text has enough of them and one
language clearly leads; otherwise it says it does not know, and the note's metadata decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORDS: dict[str, str] = {
    "en": "the a an and or of to in on at for with without is are was were be been has have had "
          "not no this that these it he she his her they their patient patients after before "
          "since during day days week weeks admitted fever pain treatment cycle which who "
          "but from by as",
    "fr": "le la les un une des du de et ou au aux en dans sur pour avec sans est sont était a "
          "ont pas ne ce cette ces il elle ils elles son sa ses leur patient patiente après avant "
          "depuis pendant jour jours semaine semaines fièvre douleur traitement cure qui que mais "
          "par chez",
    "de": "der die das ein eine einen dem den des und oder zu im in auf für mit ohne ist sind war "
          "waren hat haben nicht kein keine dieser diese es er sie sein ihr patient patientin nach "
          "vor seit während tag tage woche wochen fieber schmerzen behandlung zyklus bei wurde",
    "es": "el la los las un una unos unas del de y o al en con sin es son era fue ha han no este "
          "esta estos ese él ella su sus paciente después antes desde durante día días semana "
          "semanas fiebre dolor tratamiento ciclo que pero por para",
    "it": "il lo la i gli le un una del della dei di e o al nel con senza è sono era ha hanno non "
          "questo questa questi lui lei suo sua paziente dopo prima da durante giorno giorni "
          "settimana settimane febbre dolore trattamento ciclo che ma per",
    "nl": "de het een en of van te in op voor met zonder is zijn was waren heeft hebben niet geen "
          "deze dit hij zij haar patiënt patiente na voor sinds tijdens dag dagen week weken "
          "koorts pijn behandeling kuur die dat maar door bij",
}
_VOCAB = {lang: frozenset(words.split()) for lang, words in _WORDS.items()}
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)

#: Names of the languages, for messages a clinician reads.
NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
         "nl": "Dutch"}

MIN_HITS = 6       # fewer known words than this: too little to tell
MIN_LEAD = 1.5     # the first language must have this many times the second one's words


@dataclass(frozen=True)
class LanguageGuess:
    """The language a text reads as, or None when the text does not tell."""

    language: str | None
    hits: dict[str, int]

    @property
    def name(self) -> str:
        """Return the language's English name ('unknown' when not told)."""
        return NAMES.get(self.language or "", "unknown")


def guess_language(text: str, *, sample_chars: int = 20_000) -> LanguageGuess:
    """Return the language `text` is written in, from its first `sample_chars` characters."""
    tokens = _TOKEN.findall(text[:sample_chars].lower())
    hits = {lang: sum(1 for t in tokens if t in vocab) for lang, vocab in _VOCAB.items()}
    ranked = sorted(hits.items(), key=lambda kv: -kv[1])
    (first, n1), (_, n2) = ranked[0], ranked[1]
    if n1 < MIN_HITS or n1 < MIN_LEAD * n2:
        return LanguageGuess(None, hits)
    return LanguageGuess(first, hits)


def reading_language(text: str, recorded: str | None) -> tuple[str | None, str | None]:
    """Return (language to use, note) for a text filed with language `recorded`.

    The text's own words win when they tell; the note explains a disagreement with the record.
    """
    guess = guess_language(text)
    recorded = (recorded or "").split("-")[0].lower() or None
    if guess.language is None:
        return recorded, None
    if recorded and recorded != guess.language:
        return guess.language, (f"filed as {NAMES.get(recorded, recorded)} but written in "
                                f"{guess.name}")
    return guess.language, None
