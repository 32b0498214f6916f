"""The bundled offline AI provider: no key, no network, no model download.

Used when no AI provider has a key (so by ``make run``), and always labelled
``provider: "offline"`` so a user can tell its work from a model's:

* sentiment: VADER (the ``vaderSentiment`` package, lexicon shipped in the
  wheel) plus simple cues for what needs a human (complaints, questions,
  urgency);
* hashtags: keyword extraction from the text (a RAKE-style phrase score over
  stop-word-delimited candidates), CamelCased;
* drafts, rewrites and replies: templates filled from the brief, fitted to each
  platform's rules (length, hashtag limit) and, for replies, to the brand's
  simple rules ("never promise refunds", "no emojis", "sign off as Sam"),
  which :class:`ReplyRules` parses and checks. The service also uses that
  checker on every other provider's replies.

Registered by the plugin host as the always-loaded plugin ``offline``.
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .ai import AIFeature, AIProvider, AIResult, Draft, DraftRequest, ReplyContext, Sentiment, Usage
from .connector import PlatformRules
from .hookspecs import hookimpl

__all__ = [
    "NAME",
    "OfflineProvider",
    "ReplyRules",
    "extract_keywords",
    "to_hashtag",
    "fit_length",
    "clientnest_register_ai_providers",
]

NAME = "offline"
__version__ = "1.0.0"

# -- text helpers -------------------------------------------------------------

_STOPWORDS_EN = frozenset("""
a about above after again against all almost also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
during each else even ever every few for from further get gets got had hadn't has hasn't have haven't having
he he'd he'll he's her here here's hers herself him himself his how how's however i i'd i'll i'm i've if in
into is isn't it it's its itself just let's like make many may me might more most much must mustn't my
myself new no nor not now of off on once one only or other ought our ours ourselves out over own per please
really same shall shan't she she'd she'll she's should shouldn't so some such than that that's the their
theirs them themselves then there there's these they they'd they'll they're they've this those through to
too under until up upon us very via was wasn't we we'd we'll we're we've were weren't what what's when
when's where where's which while who who's whom why why's will with won't would wouldn't yet you you'd
you'll you're you've your yours yourself yourselves
announce announcing check come day days great today tomorrow week weeks big best let get going want
""".split())
# short lists for the template languages, so keywords stay content words
_STOPWORDS_OTHER = frozenset("""
el la los las un una unos unas y o de del al en con por para que es son su sus nuestro nuestra
le les des du et ou au aux en avec pour que qui est sont notre nos votre vos ce cette ces
der die das den dem des ein eine einen und oder mit für von zu im ist sind unser unsere ihr
""".split())
STOPWORDS = _STOPWORDS_EN | _STOPWORDS_OTHER

_WORD = re.compile(r"[#@]?[\w][\w'’-]*", re.UNICODE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)", re.UNICODE)
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F900-\U0001F9FF\U00002B00-\U00002BFF\uFE0F\u200d]"
)
_TRAILING_TAGS = re.compile(r"(?:\s*#\w+)+\s*$", re.UNICODE)
_SPACES = re.compile(r"[ \t]+")
_ELLIPSIS = "…"


def normalize_space(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks, strip the ends."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def fit_length(text: str, max_length: int | None) -> str:
    """``text`` cut at a word boundary (with an ellipsis) to fit ``max_length``."""
    if max_length is None or len(text) <= max_length:
        return text
    if max_length <= 1:
        return text[:max_length]
    cut = text[: max_length - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= max_length // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-\n") + _ELLIPSIS


def to_hashtag(phrase: str) -> str:
    """``"summer sale"`` -> ``"#SummerSale"``; letters and digits only."""
    parts = re.findall(r"\w+", phrase.replace("_", " "), re.UNICODE)
    body = "".join(p[:1].upper() + p[1:] for p in parts)
    return f"#{body[:40]}" if body and not body.isdigit() else ""


def _candidate_phrases(text: str) -> list[list[str]]:
    """Runs of content words, split at stop words and punctuation."""
    text = _URL.sub(" ", text)
    phrases: list[list[str]] = []
    current: list[str] = []
    for chunk in re.split(r"[.,;:!?()\[\]{}\"“”|/\n]+", text):
        for raw in chunk.split():
            word = raw.strip("'’-*_~").lower()
            if word.startswith("@") or not word:
                if current:
                    phrases.append(current)
                current = []
                continue
            word = word.lstrip("#")
            if word in STOPWORDS or len(word) < 3 or word.isdigit() or not re.match(r"\w", word):
                if current:
                    phrases.append(current)
                current = []
                continue
            current.append(word)
        if current:
            phrases.append(current)
        current = []
    return phrases


def extract_keywords(text: str, count: int) -> list[str]:
    """The ``count`` best keyword phrases of ``text`` (one or two words each).

    RAKE-style: a word scores its degree (co-occurrence within candidate
    phrases) over its frequency; a phrase the sum of its words; ties go to the
    phrase seen first. Phrases longer than two words are split, since a
    hashtag of three words reads badly.
    """
    if count <= 0:
        return []
    phrases: list[list[str]] = []
    for phrase in _candidate_phrases(text):
        for i in range(0, len(phrase), 2):
            phrases.append(phrase[i:i + 2])
    freq: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for phrase in phrases:
        for word in phrase:
            freq[word] += 1
            degree[word] += len(phrase)
    scored: dict[str, tuple[float, int]] = {}
    for pos, phrase in enumerate(phrases):
        key = " ".join(phrase)
        score = sum(degree[w] / freq[w] for w in phrase) + 0.5 * sum(freq[w] - 1 for w in phrase)
        if key not in scored or scored[key][0] < score:
            scored[key] = (score, scored.get(key, (0.0, pos))[1])
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    out: list[str] = []
    seen_words: set[str] = set()
    for key, _ in ranked:
        words = set(key.split())
        if words <= seen_words:  # "sale" after "summer sale" adds nothing
            continue
        out.append(key)
        seen_words |= words
        if len(out) == count:
            break
    return out


def _stable_pick(options: Sequence[str], *seed: Any) -> str:
    """A deterministic choice, so equal requests give equal answers."""
    digest = hashlib.sha256(repr(seed).encode()).digest()
    return options[digest[0] % len(options)]


# -- reply rules ------------------------------------------------------------------

_NEGATION = re.compile(
    r"^\s*(?:never|don't|dont|do not|does not|must not|mustn't|should not|shouldn't|no|avoid|not|without)\b[\s:,-]*(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_LEADING_VERBS = re.compile(
    r"^(?:ever\s+)?(?:promise|promising|offer|offering|mention|mentioning|say|saying|use|using|include|including|"
    r"discuss|discussing|talk about|talking about|give|giving|guarantee|guaranteeing|commit to|reveal|share|"
    r"provide|write|bring up|refer to|admit|blame|make|post|ask for|suggest|recommend|disclose)\b\s*",
    re.IGNORECASE,
)
_FILLER = frozenset("a an any the of about to our their your us them any other in on for with".split())
_SIGN_OFF = re.compile(
    r"\b(?:sign(?:ed)?(?:\s+off)?|end|close|finish)\s+(?:every reply\s+|replies\s+|each reply\s+)?(?:as|with)\s+[\"“']?(.+?)[\"”']?\s*\.?$",
    re.IGNORECASE,
)
_MAX_CHARS = re.compile(r"(?:max(?:imum)?|at most|under|no more than|fewer than|less than|within)\s+(\d{1,5})\s*(?:char|characters|chars)\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“'‘]([^\"”'’]{2,80})[\"”'’]")


def _stem(word: str) -> str:
    """A crude stem so "refunds", "refunded", "refunding" all meet "refund"."""
    w = word.lower().strip("'’")
    for suffix in ("ing", "ies", "es", "ed"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)] + ("y" if suffix == "ies" else "")
    if len(w) > 2 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]  # "DMs" -> "dm", "refunds" -> "refund"
    return w


def _words(text: str) -> list[str]:
    return [w.lower().strip("'’-") for w in re.findall(r"\w[\w'’-]*", text, re.UNICODE)]


@dataclass
class ReplyRules:
    """The simple, checkable part of a brand's reply rules.

    Understood forms (case-insensitive): "never/don't/no/avoid <verb> X[, Y or Z]"
    forbids the terms X, Y, Z (and any word sharing their stem; quoted text is
    matched as a phrase); "no emojis", "no exclamation marks", "no hashtags",
    "no links"; "sign off as/with X"; "max N characters". Other rules are kept
    in ``unparsed`` (a model gets them verbatim in its prompt).
    """

    forbidden_terms: list[str] = field(default_factory=list)
    forbidden_phrases: list[str] = field(default_factory=list)
    no_emoji: bool = False
    no_exclamation: bool = False
    no_hashtags: bool = False
    no_links: bool = False
    sign_off: str | None = None
    max_length: int | None = None
    unparsed: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, rules: Iterable[str]) -> ReplyRules:
        out = cls()
        for rule in rules:
            rule = " ".join(str(rule).split())
            if not rule:
                continue
            understood = False
            m = _MAX_CHARS.search(rule)
            if m:
                limit = int(m.group(1))
                out.max_length = limit if out.max_length is None else min(out.max_length, limit)
                understood = True
            m = _SIGN_OFF.search(rule)
            if m and not _NEGATION.match(rule):
                out.sign_off = m.group(1).strip()
                understood = True
            neg = _NEGATION.match(rule)
            if neg:
                understood = out._add_prohibition(neg.group(1)) or understood
            if not understood:
                out.unparsed.append(rule)
        return out

    def _add_prohibition(self, rest: str) -> bool:
        low = rest.lower()
        found = False
        if "emoji" in low:
            self.no_emoji = found = True
        if "exclamation" in low:
            self.no_exclamation = found = True
        if "hashtag" in low:
            self.no_hashtags = found = True
        if re.search(r"\b(?:links?|urls?)\b", low):
            self.no_links = found = True
        if found:
            return True
        for phrase in _QUOTED.findall(rest):
            self.forbidden_phrases.append(phrase.lower().strip())
            found = True
        if found:
            return True
        rest = re.sub(r"[.!;]+$", "", rest.strip())
        verb = _LEADING_VERBS.match(rest)
        body = rest[verb.end():] if verb else rest
        if verb and not body.strip():
            # "never apologize" / "never promise": the verb is what is forbidden
            body = verb.group(0)
        for part in re.split(r",|\bor\b|\band\b|/|\bnor\b|\blike\b|\bsuch as\b|\be\.g\.|\bincluding\b", body, flags=re.IGNORECASE):
            words = [w for w in _words(part) if w not in _FILLER]
            if not words:
                continue
            term = " ".join(_stem(w) for w in words)
            if term and term not in self.forbidden_terms:
                self.forbidden_terms.append(term)
                found = True
        return found

    def violations(self, text: str) -> list[str]:
        """Which rules ``text`` breaks, as short descriptions (empty: none)."""
        out: list[str] = []
        stems = [_stem(w) for w in _words(text)]
        low = " ".join(_words(text))
        for term in self.forbidden_terms:
            parts = term.split()
            if len(parts) == 1:
                # prefix match only for longer stems: "refund" meets "refundable",
                # but "car" must not meet "care"
                if any(s == parts[0] or (len(parts[0]) >= 4 and s.startswith(parts[0])) for s in stems):
                    out.append(f"mentions {term!r}")
            elif re.search(r"\b" + r"\w*\s+".join(map(re.escape, parts)) + r"\w*", " ".join(stems)):
                out.append(f"mentions {term!r}")
        for phrase in self.forbidden_phrases:
            if phrase in low or phrase in text.lower():
                out.append(f"says {phrase!r}")
        if self.no_emoji and _EMOJI.search(text):
            out.append("uses emojis")
        if self.no_exclamation and "!" in text:
            out.append("uses exclamation marks")
        if self.no_hashtags and _HASHTAG.search(text):
            out.append("uses hashtags")
        if self.no_links and _URL.search(text):
            out.append("includes a link")
        if self.max_length is not None and len(text) > self.max_length:
            out.append(f"longer than {self.max_length} characters")
        return out

    def apply_style(self, text: str) -> str:
        """Make ``text`` follow the style rules (emoji, '!', hashtags, links)."""
        if self.no_emoji:
            text = _EMOJI.sub("", text)
        if self.no_exclamation:
            text = text.replace("!", ".")
        if self.no_hashtags:
            text = _HASHTAG.sub(lambda m: m.group(1), text)
        if self.no_links:
            text = _URL.sub("", text)
        return normalize_space(text.replace(" .", "."))

    def scrub(self, text: str) -> str:
        """Drop every sentence that breaks a term or phrase rule."""
        sentences = re.split(r"(?<=[.!?])\s+", text)
        kept = [s for s in sentences if not ReplyRules(
            forbidden_terms=self.forbidden_terms, forbidden_phrases=self.forbidden_phrases
        ).violations(s)]
        return " ".join(kept).strip()


# -- templates -------------------------------------------------------------------

_TONES = {
    "friendly": "friendly", "warm": "friendly", "casual": "friendly", "conversational": "friendly",
    "professional": "professional", "formal": "professional", "corporate": "professional",
    "informative": "professional", "authoritative": "professional",
    "playful": "playful", "fun": "playful", "witty": "playful", "humorous": "playful",
    "excited": "excited", "enthusiastic": "excited", "energetic": "excited", "bold": "excited", "urgent": "excited",
}

# opener, call to action per language and tone; "{}" never needed, order matters for variants
_DRAFT_TEMPLATES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "en": {
        "friendly": (("Good news!", "Hi friends!", "Here's something for you:"),
                     ("Tell us what you think.", "We'd love to see you there.", "Share it with a friend.")),
        "professional": (("Announcement:", "Update:", "We are pleased to share:"),
                         ("Learn more on our website.", "Contact us for details.", "Read more via the link in our profile.")),
        "playful": (("Guess what?", "Psst...", "Drumroll, please:"),
                    ("Don't say we didn't tell you.", "Tag someone who needs this.", "Your move.")),
        "excited": (("Big news!", "It's here!", "Don't miss this!"),
                    ("Be there!", "Act fast!", "See you soon!")),
    },
    "es": {
        "friendly": (("¡Buenas noticias!", "¡Hola a todos!", "Esto es para ti:"),
                     ("Cuéntanos qué opinas.", "Te esperamos.", "Compártelo con un amigo.")),
        "professional": (("Anuncio:", "Novedad:", "Nos complace compartir:"),
                         ("Más información en nuestra web.", "Contáctanos para más detalles.", "Lee más en nuestro perfil.")),
        "playful": (("¿Adivina qué?", "Psst...", "Redoble de tambores:"),
                    ("No digas que no te avisamos.", "Etiqueta a quien lo necesite.", "Tu turno.")),
        "excited": (("¡Gran noticia!", "¡Ya está aquí!", "¡No te lo pierdas!"),
                    ("¡No faltes!", "¡Date prisa!", "¡Nos vemos pronto!")),
    },
    "fr": {
        "friendly": (("Bonne nouvelle !", "Bonjour à tous !", "Voici pour vous :"),
                     ("Dites-nous ce que vous en pensez.", "On vous attend.", "Partagez avec un ami.")),
        "professional": (("Annonce :", "Actualité :", "Nous avons le plaisir de partager :"),
                         ("Plus d'informations sur notre site.", "Contactez-nous pour en savoir plus.", "Lien dans notre profil.")),
        "playful": (("Devinez quoi ?", "Psst...", "Roulement de tambour :"),
                    ("On vous aura prévenus.", "Identifiez quelqu'un.", "À vous de jouer.")),
        "excited": (("Grande nouvelle !", "C'est arrivé !", "À ne pas manquer !"),
                    ("Soyez-y !", "Faites vite !", "À très bientôt !")),
    },
    "de": {
        "friendly": (("Gute Nachrichten!", "Hallo zusammen!", "Das ist für euch:"),
                     ("Sagt uns eure Meinung.", "Wir freuen uns auf euch.", "Teilt es mit Freunden.")),
        "professional": (("Ankündigung:", "Neuigkeit:", "Wir freuen uns mitzuteilen:"),
                         ("Mehr auf unserer Website.", "Kontaktieren Sie uns für Details.", "Link im Profil.")),
        "playful": (("Ratet mal!", "Psst...", "Trommelwirbel:"),
                    ("Sagt nicht, wir hätten es nicht gesagt.", "Markiert jemanden.", "Ihr seid dran.")),
        "excited": (("Große Neuigkeiten!", "Es ist da!", "Nicht verpassen!"),
                    ("Seid dabei!", "Schnell sein!", "Bis bald!")),
    },
}

# default number of hashtags per platform when its rules set no limit
_HASHTAG_HABIT = {"twitter": 2, "x": 2, "instagram": 8, "linkedin": 3, "facebook": 2}

_REPLIES: dict[str, dict[str, tuple[str, ...]]] = {
    "complaint": {
        "formal": (
            "We are sorry to hear about your experience. Please send us a direct message with the details so our team can look into it.",
            "Thank you for telling us, and we apologise for the trouble. Our support team will follow up if you message us privately.",
        ),
        "casual": (
            "Oh no, sorry about that! Send us a DM with the details and we'll look into it right away.",
            "That's not the experience we want for you. Drop us a DM and we'll sort it out together.",
        ),
        "neutral": (
            "Sorry to hear that. Please send us a direct message with the details and our team will look into it.",
            "Thanks for letting us know. Message us privately with the details so we can help.",
        ),
    },
    "question": {
        "formal": (
            "Thank you for your question. Please send us a direct message and our team will answer it promptly.",
            "Thank you for asking. Our team will be glad to help via direct message.",
        ),
        "casual": (
            "Great question! Send us a DM and we'll get you an answer.",
            "Thanks for asking! Drop us a DM and we'll help you out.",
        ),
        "neutral": (
            "Thanks for your question. Send us a direct message and we'll help.",
            "Good question. Please message us directly and our team will answer.",
        ),
    },
    "praise": {
        "formal": (
            "Thank you for your kind words. We truly appreciate your support.",
            "We are delighted to hear this. Thank you for sharing.",
        ),
        "casual": (
            "Thank you so much! This made our day 💛",
            "Love to hear it! Thanks for the support!",
        ),
        "neutral": (
            "Thank you! We're glad you enjoyed it.",
            "Thanks for the kind words. We appreciate it.",
        ),
    },
    "neutral": {
        "formal": (
            "Thank you for your comment. We appreciate you taking the time to share it.",
            "Thank you for reaching out. We value your feedback.",
        ),
        "casual": (
            "Thanks for stopping by and sharing!",
            "Thanks for the comment! Appreciate you.",
        ),
        "neutral": (
            "Thanks for your comment.",
            "Thank you for sharing your thoughts.",
        ),
    },
}
_REPLY_FALLBACKS = ("Thank you for your message.", "We have received your message.", "Noted.")

_QUESTION_START = re.compile(
    r"^(?:how|why|what|when|where|who|which|can|could|would|will|is|are|do|does|did|should|may|any)\b", re.IGNORECASE
)
# words of a complaint VADER's lexicon scores mildly or not at all ("refund")
_COMPLAINT = re.compile(
    r"\b(?:refunds?|money back|broken|damaged|defective|never (?:arrived|came|received)|(?:didn't|did not|hasn't|has not|"
    r"haven't|have not) (?:arrive|arrived|come|received|work(?:ed)?)|not working|doesn't work|does not work|stopped working|"
    r"wrong (?:order|item|size)|missing|overcharged|charged twice|complain(?:t|ing)?|disappointed|disappointing|"
    r"rip-?off|still waiting|no response|unacceptable|worst|terrible|awful|useless|scam)\b",
    re.IGNORECASE,
)
_URGENT = re.compile(
    r"\b(?:urgent|urgently|asap|immediately|right now|emergency|help|still waiting|no response|lawyer|legal|"
    r"sue|scam|fraud|refund|chargeback|cancel|broken|hacked|stolen|unacceptable|worst|dangerous|unsafe)\b",
    re.IGNORECASE,
)


class OfflineProvider(AIProvider):
    """Sentiment with VADER, hashtags by keyword extraction, drafts from templates."""

    name = NAME
    display_name = "Offline (bundled, no AI model)"
    version = __version__
    capabilities = frozenset(AIFeature)
    offline = True

    _analyzer: Any = None
    _analyzer_lock = threading.Lock()

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)

    @property
    def model(self) -> str:
        return "vader-templates-1"

    def price(self, usage: Usage) -> float:
        return 0.0

    def _result(self, value: Any) -> AIResult[Any]:
        # No tokens are used: the usage report shows zero, never an estimate.
        return AIResult(value=value, provider=self.name, model=self.model, usage=Usage())

    # -- sentiment ----------------------------------------------------------------
    @classmethod
    def analyzer(cls) -> Any:
        # Built on first use: loading the lexicon takes ~50 ms we skip at start-up.
        if cls._analyzer is None:
            with cls._analyzer_lock:
                if cls._analyzer is None:
                    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                    cls._analyzer = SentimentIntensityAnalyzer()
        return cls._analyzer

    def _sentiment(self, text: str) -> Sentiment:
        compound = float(self.analyzer().polarity_scores(text)["compound"])
        reasons: list[str] = []
        if compound <= -0.3 or _COMPLAINT.search(text):
            reasons.append("complaint")
            # "Refund me now!" scores positive in VADER; a complaint is never positive
            compound = min(compound, -0.25)
        label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
        stripped = text.strip()
        if "?" in stripped or any(_QUESTION_START.match(s) for s in re.split(r"(?<=[.!?])\s+", stripped)):
            reasons.append("question")
        if _URGENT.search(text) or text.count("!") >= 3:
            reasons.append("urgent")
        return Sentiment(label=label, score=round(max(-1.0, min(1.0, compound)), 4),
                         needs_human=bool(reasons), reasons=reasons)

    def score_sentiment(self, texts: Sequence[str]) -> AIResult[list[Sentiment]]:
        return self._result([self._sentiment(t) for t in texts])

    # -- hashtags -----------------------------------------------------------------
    def suggest_hashtags(self, text: str, platform: str, count: int) -> AIResult[list[str]]:
        return self._result(self._hashtags(text, count))

    @staticmethod
    def _hashtags(text: str, count: int, exclude: Iterable[str] = ()) -> list[str]:
        if count <= 0:
            return []
        seen = {h.lower() for h in exclude}
        out: list[str] = []
        for tag in _HASHTAG.findall(text):  # the author's own hashtags first
            h = "#" + tag
            if h.lower() not in seen:
                seen.add(h.lower())
                out.append(h)
        for phrase in extract_keywords(_HASHTAG.sub(" ", text), count * 2):
            h = to_hashtag(phrase)
            if h and h.lower() not in seen:
                seen.add(h.lower())
                out.append(h)
        return out[:count]

    # -- drafts -------------------------------------------------------------------
    def generate_posts(self, request: DraftRequest) -> AIResult[list[Draft]]:
        lang = request.language.split("-")[0].lower()
        templates = _DRAFT_TEMPLATES.get(lang, _DRAFT_TEMPLATES["en"])
        tone = _TONES.get(request.tone.strip().lower(), "friendly")
        openers, ctas = templates[tone]
        core = self._core_sentence(request.brief)
        drafts: list[Draft] = []
        for platform in request.platforms:
            rules = request.rules.get(platform) or PlatformRules(max_length=280)
            wanted = _HASHTAG_HABIT.get(platform, 3)
            if rules.max_hashtags is not None:
                wanted = min(wanted, rules.max_hashtags)
            tags = self._hashtags(request.brief, wanted + request.variants)
            seen: set[str] = set()
            for v in range(request.variants):
                chosen = tags[v % max(1, len(tags)):][:wanted] if tags else []
                if len(chosen) < wanted:
                    chosen += [t for t in tags if t not in chosen][: wanted - len(chosen)]
                draft = None
                for shift in range(len(openers) * len(ctas)):  # the next combination if one repeats
                    k = v + shift
                    draft = self._fit_draft(platform, rules, openers[k % len(openers)],
                                            core, ctas[(k // len(openers) + v + 1) % len(ctas)], chosen)
                    if draft.text not in seen:
                        break
                assert draft is not None
                seen.add(draft.text)
                drafts.append(draft)
        return self._result(drafts)

    @staticmethod
    def _core_sentence(brief: str) -> str:
        core = normalize_space(brief).replace("\n", " ")
        core = core[:1].upper() + core[1:]
        if core and core[-1] not in ".!?…":
            core += "."
        return core

    @staticmethod
    def _fit_draft(platform: str, rules: PlatformRules, opener: str, core: str, cta: str, tags: list[str]) -> Draft:
        """Shorten until the post fits the platform, losing the least first:
        extra hashtags, the call to action, then words of the brief (the
        opener stays, so variants still differ), then everything optional."""
        limit = rules.max_length
        sep = " " if limit <= 500 else "\n\n"
        tags = list(tags)

        def compose(opener: str, core: str, cta: str, tags: list[str]) -> str:
            body = " ".join(p for p in (opener, core, cta) if p)
            return f"{body}{sep}{' '.join(tags)}" if tags else body

        text = compose(opener, core, cta, tags)
        while len(text) > limit and len(tags) > 1:
            tags.pop()
            text = compose(opener, core, cta, tags)
        if len(text) > limit:
            cta = ""
            text = compose(opener, core, cta, tags)
        if len(text) > limit:
            room = limit - len(compose(opener, "", "", tags)) - 1
            if room >= min(40, limit // 2):
                text = compose(opener, fit_length(core, room), "", tags)
            else:  # a tiny limit: the brief alone, cut to fit
                tags = []
                text = fit_length(core, limit)
        return Draft(platform=platform, text=text, hashtags=[t for t in tags if t in text])

    # -- rewrite ------------------------------------------------------------------
    def rewrite(self, text: str, platform: str, rules: PlatformRules) -> AIResult[str]:
        text = normalize_space(text)
        tags = ["#" + t for t in _HASHTAG.findall(text)]
        limit = rules.max_hashtags
        if limit is None and platform in ("twitter", "x"):
            limit = 3  # more reads as spam on X even though the API allows it
        if limit is not None and len(tags) > limit:
            # Over the limit: the extra tags go; a trailing block of tags is
            # dropped, a tag inside a sentence keeps its word ("our #sale" -> "our sale").
            extra = {t.lower() for t in tags[limit:]}
            m = _TRAILING_TAGS.search(text)
            body, tail = (text[: m.start()], m.group(0)) if m else (text, "")
            body = _HASHTAG.sub(lambda h: h.group(1) if "#" + h.group(1).lower() in extra else h.group(0), body)
            tail = _HASHTAG.sub(lambda h: "" if "#" + h.group(1).lower() in extra else h.group(0), tail)
            text = normalize_space(f"{body} {tail}")
        if rules.max_length <= 500:
            text = " ".join(text.split())  # short platforms: one paragraph
        if len(text) > rules.max_length:
            # shorten the words, keep the closing block of hashtags when it leaves room
            m = _TRAILING_TAGS.search(text)
            body, tail = (text[: m.start()], " ".join(m.group(0).split())) if m else (text, "")
            room = rules.max_length - len(tail) - 1
            if tail and room >= rules.max_length // 2:
                text = f"{fit_length(body.rstrip(), room)} {tail}"
            else:
                text = fit_length(body.rstrip(), rules.max_length)
        return self._result(text)

    # -- replies ------------------------------------------------------------------
    def draft_reply(self, comment: str, context: ReplyContext) -> AIResult[str]:
        rules = ReplyRules.parse(context.rules)
        sentiment = self._sentiment(comment)
        if "complaint" in sentiment.reasons or sentiment.label == "negative":
            situation = "complaint"
        elif "question" in sentiment.reasons:
            situation = "question"
        elif sentiment.label == "positive":
            situation = "praise"
        else:
            situation = "neutral"
        voice = context.brand_voice.lower()
        if re.search(r"formal|professional|polite|corporate|courteous|respectful", voice):
            style = "formal"
        elif re.search(r"casual|playful|fun|friendly|witty|warm|relaxed|cheerful", voice):
            style = "casual"
        else:
            style = "neutral"
        limits = [v for v in (context.max_length, rules.max_length) if v]
        max_len = min(limits) if limits else None

        first = _stable_pick(_REPLIES[situation][style], comment, style)
        candidates = [first, *[c for c in _REPLIES[situation][style] if c != first],
                      *_REPLIES[situation]["neutral"], *_REPLY_FALLBACKS]
        fallback: str | None = None
        for candidate in candidates:
            text = self._finish_reply(candidate, rules, max_len)
            if text and not rules.violations(text):
                if not text.endswith(_ELLIPSIS) and _ELLIPSIS + " " not in text:
                    return self._result(text)
                fallback = fallback or text  # compliant but cut: keep looking for a whole one
        if fallback:
            return self._result(fallback)
        # every template broke a rule: keep what survives the scrub
        text = self._finish_reply(rules.scrub(_REPLY_FALLBACKS[0]) or "", rules, max_len)
        return self._result(text if not rules.violations(text) else "")

    @staticmethod
    def _finish_reply(text: str, rules: ReplyRules, max_len: int | None) -> str:
        text = rules.apply_style(text)
        if rules.sign_off:
            sign = rules.apply_style(f"– {rules.sign_off}")
            room = None if max_len is None else max_len - len(sign) - 1
            body = text if room is None else _fit_sentences(text, max(room, 0))
            return f"{body} {sign}".strip()
        return _fit_sentences(text, max_len)


def _fit_sentences(text: str, max_length: int | None) -> str:
    """As many whole sentences as fit; a cut sentence only if none does."""
    if max_length is None or len(text) <= max_length:
        return text
    out = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        joined = f"{out} {sentence}".strip()
        if len(joined) > max_length:
            break
        out = joined
    return out or fit_length(text, max_length)


@hookimpl
def clientnest_register_ai_providers() -> list[type[AIProvider]]:
    return [OfflineProvider]
