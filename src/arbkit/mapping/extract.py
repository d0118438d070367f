"""What a market's title and rules say, as comparable facts.

From a venue's market text (title/question, outcome label, rules, resolution source, close time)
this extracts: the subject entities (aliases folded: "BTC" and "Bitcoin" are one entity), places and
weather stations, dates and months, times of day, the window kind ("on" a date vs "by" a date),
the YES condition's bound (``>``, ``>=``, ``<``, ``<=``, a bucket, or exactly) with its value and
unit, negation ("NOT", "does not"), the resolution source(s) and unfilled placeholders. Kalshi's
structured strike fields (``strike_type``, ``floor_strike``, ``cap_strike``) win over text when
present.

Plain regular expressions over English rules text: deterministic and explainable. Anything it
cannot read is left empty and the comparison says so (a missing fact is a warning to review, not a
match).
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# --- vocabularies ---------------------------------------------------------------------------------

# alias -> canonical entity. Keys are lower case, matched on word boundaries.
ENTITY_ALIASES: dict[str, str] = {
    "bitcoin": "bitcoin", "btc": "bitcoin",
    "ethereum": "ethereum", "ether": "ethereum", "eth": "ethereum",
    "solana": "solana", "sol": "solana",
    "xrp": "xrp", "dogecoin": "dogecoin", "doge": "dogecoin",
    "federal reserve": "federal reserve", "fed": "federal reserve", "fomc": "federal reserve",
    "federal funds": "federal reserve",
    "cpi": "cpi", "consumer price index": "cpi", "inflation": "cpi",
    "gdp": "gdp", "unemployment": "unemployment rate", "unemployment rate": "unemployment rate",
    "nonfarm payrolls": "payrolls", "payrolls": "payrolls", "jobs report": "payrolls",
    "s&p 500": "s&p 500", "spx": "s&p 500", "nasdaq": "nasdaq", "nasdaq-100": "nasdaq", "dow": "dow jones",
    "gas prices": "gas price", "gas price": "gas price", "gasoline": "gas price",
    "temperature": "temperature", "high temperature": "temperature", "highest temperature": "temperature",
    "rain": "rain", "rainfall": "rain", "precipitation": "rain", "snow": "snow", "snowfall": "snow",
    "trump": "donald trump", "donald trump": "donald trump",
    "fed chair": "fed chair", "recession": "recession", "tariff": "tariffs", "tariffs": "tariffs",
    "bank of england": "bank of england", "ecb": "ecb", "european central bank": "ecb",
    # parties: "Democrats win the House" and "the Democratic Party controls the House" name one party
    "democratic party": "democratic party", "democratic": "democratic party", "democrats": "democratic party",
    "democrat": "democratic party", "republican party": "republican party", "republican": "republican party",
    "republicans": "republican party", "gop": "republican party",
    # Kalshi names the leagues generically ("Pro Basketball Finals", "Pro Football game"): one league
    "nba": "nba", "pro basketball": "nba", "nfl": "nfl", "pro football": "nfl",
    "nhl": "nhl", "pro hockey": "nhl", "mlb": "mlb", "pro baseball": "mlb",
}

# alias -> canonical place. Weather stations are places too: a different station is a different contract.
PLACE_ALIASES: dict[str, str] = {
    "new york city": "new york", "new york": "new york", "nyc": "new york", "ny": "new york",
    "central park": "station:central park", "knyc": "station:central park",
    "laguardia": "station:laguardia", "la guardia": "station:laguardia", "klga": "station:laguardia",
    "jfk": "station:jfk", "kjfk": "station:jfk",
    "chicago": "chicago", "midway": "station:midway", "kmdw": "station:midway",
    "o'hare": "station:o'hare", "ohare": "station:o'hare", "kord": "station:o'hare",
    "miami": "miami", "kmia": "station:miami international",
    "los angeles": "los angeles", "lax": "station:lax", "klax": "station:lax",
    "austin": "austin", "kaus": "station:austin bergstrom", "camp mabry": "station:camp mabry",
    "denver": "denver", "kden": "station:denver international",
    "philadelphia": "philadelphia", "kphl": "station:philadelphia international",
    "houston": "houston", "seattle": "seattle", "boston": "boston", "washington": "washington",
    "london": "london", "heathrow": "station:heathrow", "paris": "paris", "tokyo": "tokyo",
    "united states": "united states", "u.s.": "united states", "us": "united states", "usa": "united states",
}

MONTHS = {m.lower(): i for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"], 1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
MONTHS["sept"] = 9

STOPWORDS = frozenset(
    "a an the of on in at by to for and or be is are was will would what which who whom whose this that these "
    "those than then if it its as with from into over under above below market resolve resolves resolved "
    "yes no price value end close closing before after during between more less least most or higher lower "
    "otherwise source per according any all each other than how much many does do did not".split()
)

# --- patterns ------------------------------------------------------------------------------------------

_MONTH_RE = r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_FULL_DATE = re.compile(_MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.I)
_DATE_RANGE = re.compile(_MONTH_RE + r"\s+(\d{1,2})\s?[-–]\s?(\d{1,2}),?\s+(\d{4})", re.I)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_YEAR = re.compile(_MONTH_RE + r",?\s+(\d{4})\b", re.I)
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([AaPp])\.?[Mm]\.?\s*(ET|EST|EDT|UTC|GMT|PT|PST|PDT|CT|CST|CDT)?")
_KALSHI_DATE = re.compile(r"^(\d{2})([A-Z]{3})(\d{2})?$")

_NUM = (
    r"(?P<cur>\$)?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?"
    r"(?P<mult>k\b|K\b|million\b|billion\b|bn\b|thousand\b|m\b|M\b)?\s?"
    r"(?P<unit>%|percent\b|percentage points?\b|bps\b|basis points?\b|°\s?F\b|°\s?C\b|°|degrees?\s+(?:fahrenheit|celsius|f|c)\b|degrees?\b|"
    r"inches\b|inch\b|in\.|mm\b|cm\b|points?\b|pts\b|cents?\b|gallon\b)?"
)
_NUM2 = _NUM.replace("?P<cur>", "?P<cur2>").replace("?P<num>", "?P<num2>").replace("?P<mult>", "?P<mult2>").replace("?P<unit>", "?P<unit2>")

# (op, regex) — the number is named; phrases with the comparator AFTER the number come with it.
_BOUND_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("between", re.compile(r"\bbetween\s+" + _NUM + r"\s+and\s+" + _NUM2, re.I)),
    ("between", re.compile(_NUM + r"\s?(?:to|-|–|—)\s?" + _NUM2 + r"(?=\s|$|[,.;)])", re.I)),
    (">=", re.compile(r"\b(?:greater than or equal to|at least|no less than|not less than|or more than|reach(?:es)?|hits?)\s+[-−]?" + _NUM, re.I)),
    ("<=", re.compile(r"\b(?:less than or equal to|at most|no more than|not more than|no greater than)\s+[-−]?" + _NUM, re.I)),
    (">=", re.compile(_NUM + r"\s*(?:or (?:above|more|higher|greater|over)\b|\+)", re.I)),
    ("<=", re.compile(_NUM + r"\s*or (?:below|less|lower|fewer|under)\b", re.I)),
    (">", re.compile(r"\b(?:above|over|more than|greater than|higher than|exceeds?|exceeding|in excess of)\s+[-−]?" + _NUM, re.I)),
    ("<", re.compile(r"\b(?:below|under|less than|lower than|fewer than)\s+[-−]?" + _NUM, re.I)),
    # "Will Core PCE MoM be 0.1% in June?": a value with its unit and no comparator is that value exactly
    # (only with a unit: "be 2 in June" says nothing; the check is in extract_bound)
    ("=", re.compile(r"\b(?:be|is|equal to)\s+[-−]?" + _NUM + r"(?=\s+(?:in|on|for|at|by)\b|\s*\?)", re.I)),
    ("=", re.compile(r"\bexactly\s+" + _NUM, re.I)),
    # symbols, as in Polymarket bucket labels ("≤3.9%", "≥ 4.5%")
    (">=", re.compile(r"(?:≥|>=)\s*" + _NUM)),
    ("<=", re.compile(r"(?:≤|<=)\s*" + _NUM)),
    (">", re.compile(r"(?<![<>=])>(?!=)\s*" + _NUM)),
    ("<", re.compile(r"(?<![<>=])<(?!=)\s*" + _NUM)),
    # a rate move "by 25 bps" / "a Hike of 25bps" is that exact step ("25 bps or more", "50+ bps" are not)
    ("=", re.compile(r"\b(?:by|of)\s+(?P<num>\d+(?:\.\d+)?)\s?(?P<unit>bps\b|basis points?\b)(?!\s*(?:or\b|\+))", re.I)),
]

_NEGATION = re.compile(
    r"\bNOT\b|\b(?:does|do|did|will|is|was|would)\s+not\b|\b(?:doesn't|don't|won't|isn't|wasn't|fails? to|fail to)\b|"
    r"\bno (?:cut|change|hike|increase|decrease|rate cut)\b|\bneither\b",
)
_RES_SOURCE = [
    re.compile(r"\b[Rr]esolution [Ss]ource(?:\s+for\s+this\s+market)?(?:\s+(?:is|will be))?\s*[:\-]?\s*(?:the\s+)?([^.;\n]+)"),
    re.compile(r"\b[Ss]ettlement [Ss]ource(?:\s+(?:is|will be))?\s*[:\-]?\s*(?:the\s+)?([^.;\n]+)"),
    re.compile(r"\b(?:[Aa]ccording to|[Aa]s reported by|[Vv]erified against|[Pp]er|(?:[Aa]s )?(?:published|reported|announced|released) by)\s+(?:the\s+)?([^.;,\n\"]+)"),
]
_PLACEHOLDER = re.compile(
    r"\{\{[^}]*\}\}|\{[a-z_]+\}|<\s*TBD\s*>|<[a-z_ ]{2,30}>|\bTBD\b|\bTBA\b|\[(?:date|time|insert[^\]]*|[A-Z_]{3,})\]|XX/XX|\?\?\?",
)
_WINDOW_BY = re.compile(
    r"\b(?:by|before|prior to|no later than)\s+(?:the\s+)?(?:end of\s+)?(?:" + _MONTH_RE + r"|\d{1,2}\s+" + _MONTH_RE
    + r"|(?:19|20)\d\d\b|\w+day\b|year\b|the close)"
    r"|\bat any (?:point|time)\b|\bany time\b|\banytime\b",
    re.I,
)
_WORD = re.compile(r"[a-z0-9&'$]+")

UNIT_CANON = {
    "%": "%", "percent": "%", "percentage point": "%", "percentage points": "%",
    "bps": "bps", "basis point": "bps", "basis points": "bps",
    "°f": "F", "° f": "F", "degrees fahrenheit": "F", "degree fahrenheit": "F", "degrees f": "F", "degree f": "F",
    "°c": "C", "° c": "C", "degrees celsius": "C", "degree celsius": "C", "degrees c": "C", "degree c": "C",
    "°": "deg", "degrees": "deg", "degree": "deg",
    "inches": "in", "inch": "in", "in.": "in", "mm": "mm", "cm": "cm", "points": "pt", "point": "pt", "pts": "pt",
    "cents": "cent", "cent": "cent", "gallon": "gallon",
}
_MULT = {"k": 1000, "thousand": 1000, "m": 1_000_000, "million": 1_000_000, "billion": 10**9, "bn": 10**9}


@dataclass(frozen=True)
class Bound:
    """The YES condition on a number: ``op`` in ``>``, ``>=``, ``<``, ``<=``, ``=``, ``between``."""

    op: str
    value: Decimal
    upper: Decimal | None = None  # for "between"
    unit: str = ""  # canonical unit ("usd", "%", "bps", "F", ...), "" when none is stated
    text: str = ""

    @property
    def direction(self) -> int:
        """+1 for a lower bound (YES when the number is high), -1 for an upper bound, 0 otherwise."""
        return 1 if self.op in (">", ">=") else -1 if self.op in ("<", "<=") else 0

    @property
    def inclusive(self) -> bool:
        return self.op in (">=", "<=", "=", "between")

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.op == "between":
            return f"between {self.value} and {self.upper}{unit}"
        return f"{self.op} {self.value}{unit}"


@dataclass
class Terms:
    """What one market says, ready to compare with another venue's market."""

    venue: str
    market_id: str
    title: str
    rules: str
    outcome_label: str = ""
    entities: set[str] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    dates: set[_dt.date] = field(default_factory=set)
    months: set[tuple[int, int]] = field(default_factory=set)
    times: set[str] = field(default_factory=set)
    window: str = "on"  # "on" a date/time, or "by" (any time until)
    bound: Bound | None = None
    negated: bool = False
    sources: list[str] = field(default_factory=list)  # normalised
    sources_raw: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    close_date: _dt.date | None = None
    tokens: set[str] = field(default_factory=set)
    measure: set[str] = field(default_factory=set)  # "yoy"/"mom", "core"
    quarters: set[tuple[int, int]] = field(default_factory=set)  # (year, quarter) the figure is for
    direction: set[str] = field(default_factory=set)  # "up" (hike, raise) / "down" (cut) / "hold"
    joint: bool = False  # YES needs several conditions at once (a parlay, "both ... and ...")
    period: set[str] = field(default_factory=set)  # part of a game ("1h", "q1", ...); empty = the full game
    bet_type: str = ""  # "moneyline", "spread", "total" for games
    providers: set[str] = field(default_factory=set)  # data providers named in the rules (canonical)

    @property
    def polarity_sign(self) -> int:
        """+1 when YES means "the thing happens / the number is high", -1 when inverted."""
        d = self.bound.direction if self.bound is not None and self.bound.direction else 1
        return -d if self.negated else d


# --- what is measured, in which direction, over which part of a game ---------------------------

_MEASURE = [
    ("yoy", re.compile(r"\b(?:year[- ]over[- ]year|yoy|y/y|annual(?:ized)? (?:inflation|rate|change)|12[- ]months?|"
                       r"twelve[- ]months?|year ending)\b", re.I)),
    ("mom", re.compile(r"\b(?:month[- ]over[- ]month|mom|m/m|monthly (?:change|increase|rate|inflation)|"
                       r"(?:from|over) the previous month|one[- ]month (?:change|percent))\b", re.I)),
    ("core", re.compile(r"\bcore\b|\bexcluding food and energy\b|\bless food and energy\b", re.I)),
    # which survey of a purchasing managers' index: ISM Manufacturing is not ISM Services
    ("sector:manufacturing", re.compile(r"\bmanufacturing (?:pmi|purchasing|sector|index|report)\b", re.I)),
    ("sector:services", re.compile(r"\b(?:services|non-manufacturing) (?:pmi|purchasing|sector|index|report)\b", re.I)),
    ("nsa", re.compile(r"\bnot seasonally adjusted\b|\bbefore seasonal adjustment\b|\bunadjusted\b|\bnsa\b", re.I)),
    ("sa", re.compile(r"(?<!not )\bseasonally adjusted\b", re.I)),
]
_DIRECTION = [
    ("up", re.compile(r"\b(?:hikes?|hiked|hiking|raises?|raised|raising|increases?|increased|increasing)\b", re.I)),
    ("down", re.compile(r"\b(?:cuts?|cutting|lowers?|lowered|lowering|decreases?|decreased|decreasing|reduces?|reduced|"
                        r"reduction)\b", re.I)),
    ("hold", re.compile(r"\b(?:no change|unchanged|holds?|hold steady|maintains?|pause)\b", re.I)),
]
_RATE_CONTEXT = re.compile(r"\b(?:rates?|federal funds|fomc|fed|bps|basis points?|bank of england|ecb)\b", re.I)
_PERIODS = [
    ("1h", re.compile(r"\b(?:1st|first) half\b|\b1h\b|\bhalftime\b|\bat the half\b", re.I)),
    ("2h", re.compile(r"\b(?:2nd|second) half\b|\b2h\b", re.I)),
    ("q1", re.compile(r"\b(?:1st|first) quarter\b|\bq1\b", re.I)),
    ("p1", re.compile(r"\b(?:1st|first) period\b", re.I)),
    ("f5", re.compile(r"\bfirst (?:5|five) innings\b|\b1st 5 innings\b", re.I)),
    ("set1", re.compile(r"\b(?:1st|first) set\b", re.I)),
    ("map1", re.compile(r"\b(?:map|game) 1\b", re.I)),
]
_SPREAD = re.compile(r"\bspread\b|\b(?:win|wins|winning|beat|beats) by (?:more than|over|at least)\b|\bcovers?\b|"
                     r"[+-]\d+(?:\.5)\b|\bhandicap\b|\bby \d+(?:\.5)?\+? points\b", re.I)
_TOTAL = re.compile(r"\b(?:total|combined) (?:points|goals|runs|score)\b|\bover/under\b|\bo/u\b|"
                    r"\bpoints scored\b|\b(?:over|under) \d+\.5 (?:points|goals|runs)\b", re.I)
_WIN = re.compile(r"\b(?:win|wins|beat|beats|defeat|defeats|winner)\b|\bvs\.?\b", re.I)
_JOINT = re.compile(r"\band also\b|\bas well as\b|^yes [^,]+,\s*yes |\bparlay\b|"
                    r"\ball of the following\b", re.I)

# data providers a contract settles on; a different provider is a different number
PROVIDERS: dict[str, str] = {
    "cf benchmarks": "cf benchmarks", "brti": "cf benchmarks", "brr": "cf benchmarks", "real time index": "cf benchmarks",
    "binance": "binance", "coinbase": "coinbase", "kraken": "kraken", "chainlink": "chainlink", "coingecko": "coingecko",
    "coinmarketcap": "coinmarketcap", "pyth": "pyth",
    "bureau of labor statistics": "bls", "bls": "bls", "bureau of economic analysis": "bea", "bea": "bea",
    "national weather service": "nws", "nws": "nws", "climatological report": "nws", "noaa": "nws",
    "wunderground": "wunderground", "weather underground": "wunderground", "accuweather": "accuweather",
    "the weather company": "weather company",
    "aaa": "aaa", "energy information administration": "eia", "eia": "eia",
    "yahoo finance": "yahoo finance", "google finance": "google finance",
}
# "while checking AccuWeather may help, the official value is ...": a provider named only as a
# counter-example is not the source
_NOT_SOURCE = re.compile(r"(?:while checking|such as|like)\s+(?:a source like\s+)?([A-Za-z ]{3,40}?)(?:\s+or\s+[A-Za-z ]{3,30})?\s+may help", re.I)


_QUARTER = re.compile(r"\bQ([1-4])\s*(?:of\s+)?((?:19|20)\d\d)\b|\b(first|second|third|fourth) quarter(?: of)?,?\s+((?:19|20)\d\d)\b", re.I)
_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def extract_quarters(text: str) -> set[tuple[int, int]]:
    out = set()
    for m in _QUARTER.finditer(text):
        if m.group(1):
            out.add((int(m.group(2)), int(m.group(1))))
        else:
            out.add((int(m.group(4)), _ORD[m.group(3).lower()]))
    return out


def extract_measure(text: str) -> set[str]:
    return {name for name, rx in _MEASURE if rx.search(text)}


def extract_direction(text: str) -> set[str]:
    """Rate-decision direction words, only in a text about rates (a CPI "increase" is not a hike)."""
    if not _RATE_CONTEXT.search(text):
        return set()
    return {name for name, rx in _DIRECTION if rx.search(text)}


def extract_periods(text: str) -> set[str]:
    return {name for name, rx in _PERIODS if rx.search(text)}


def extract_bet_type(text: str) -> str:
    if _SPREAD.search(text):
        return "spread"
    if _TOTAL.search(text):
        return "total"
    if _WIN.search(text):
        return "moneyline"
    return ""


def extract_providers(text: str) -> set[str]:
    low = normalise(text)
    excluded: set[str] = set()
    for m in _NOT_SOURCE.finditer(text):
        excluded |= {c for a, c in PROVIDERS.items() if a in normalise(m.group(0))}
    found = set()
    for alias, canon in PROVIDERS.items():
        if alias in ("bls", "bea", "nws", "eia", "aaa", "brti", "brr") and not re.search(r"(?<![A-Za-z])" + alias.upper() + r"(?![A-Za-z])", text):
            continue
        if re.search(r"(?<![a-z0-9])" + re.escape(alias) + r"(?![a-z0-9])", low):
            found.add(canon)
    return found - excluded


# --- helpers -------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower case, one space, curly quotes straight, accents off ("Türkiye" is "turkiye", "José" "jose")."""
    text = text.lower().replace("’", "'")
    if not text.isascii():
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(text.split())


def abbreviated_label(short: str, full: str) -> bool:
    """Kalshi writes two teams of one city as "Los Angeles D" / "Los Angeles A": the city, then the
    initial of the team name. True when ``short`` is ``full`` cut that way ("Los Angeles Dodgers")."""
    s, f = normalise(short).split(), normalise(full).split()
    return (len(s) >= 2 and len(s[-1]) == 1 and len(f) == len(s) and f[:-1] == s[:-1]
            and f[-1].startswith(s[-1]) and len(f[-1]) > 1)


def _find_aliases(text: str, aliases: dict[str, str]) -> set[str]:
    low = " " + normalise(text) + " "
    found: set[str] = set()
    for alias, canon in aliases.items():
        if alias in ("us", "ny", "sol", "in") and not re.search(r"(?<![A-Za-z])" + re.escape(alias.upper()) + r"(?![A-Za-z])", text):
            continue  # short aliases only in capitals ("US", "NY", "SOL"), never the word "us"
        if re.search(r"(?<![a-z0-9])" + re.escape(alias) + r"(?![a-z0-9])", low):
            found.add(canon)
    return found


def parse_number(num: str, mult: str | None) -> Decimal:
    try:
        v = Decimal(num.replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"not a number: {num!r}") from None
    if mult:
        v *= _MULT.get(mult.lower(), 1)
    return Decimal(int(v)) if v == v.to_integral_value() else v.normalize()


def _plain(v: Decimal) -> Decimal:
    """Equal values compare equal and print without an exponent (5000, not 5E+3)."""
    return Decimal(int(v)) if v == v.to_integral_value() else v.normalize()


def _unit(cur: str | None, unit: str | None) -> str:
    if unit:
        return UNIT_CANON.get(" ".join(unit.lower().split()), unit.lower())
    return "usd" if cur else ""


def extract_bound(text: str) -> Bound | None:
    """The first comparison with a number in ``text`` (earliest position, longest phrase)."""
    best: tuple[int, int, Bound] | None = None
    for op, rx in _BOUND_PATTERNS:
        for m in rx.finditer(text):
            g = m.groupdict()
            if not g.get("num"):
                continue
            try:
                value = parse_number(g["num"], g.get("mult"))
            except ValueError:
                continue
            unit = _unit(g.get("cur"), g.get("unit"))
            if op == "=" and not unit and re.match(r"(?:be|is|equal to)\b", m.group(0), re.I):
                continue  # a bare number after "be" is no value the contract names
            upper = None
            if op == "between":
                try:
                    upper = parse_number(g["num2"], g.get("mult2"))
                except (ValueError, TypeError):
                    continue
                unit = unit or _unit(g.get("cur2"), g.get("unit2"))
                if upper <= value:
                    continue  # "2025-2026", "5-3": not a bucket
                if re.fullmatch(r"(19|20)\d\d", g["num"]) and not unit:
                    continue  # a year range
            elif re.fullmatch(r"(19|20)\d\d", g["num"]) and not unit and not g.get("cur"):
                continue  # "after 2026" is a date, not a threshold
            after = text[m.end("num"):m.end("num") + 16]
            if re.match(r"-[A-Za-z]", after) or re.match(r"\s*years?\s+(?:of\s+age|old)\b", after, re.I):
                continue  # "over 1-month periods", "under 40 years of age": a period or an age, not the bound
            if op != "between":
                lead = text[max(0, m.start("num") - 3):m.start("num")].replace("$", "")
                if re.search(r"(?:^|[\s(])[-−]$", lead) or (m.start("num") > 0 and text[m.start("num") - 1] in "-−"
                                                           and (m.start("num") < 2 or text[m.start("num") - 2] in " (")):
                    value = -value  # "more than -0.1%", "above -25,000"
            if op == "between" and not unit and re.search(_MONTH_RE + r"\s*$", text[max(0, m.start() - 12):m.start()], re.I):
                continue  # "April 27-28": a date range, not a bucket
            cand = Bound(op=op, value=value, upper=upper, unit=unit, text=m.group(0).strip())
            key = (m.start(), -(m.end() - m.start()))
            if best is None or key < (best[0], best[1]):
                best = (key[0], key[1], cand)
            break  # first (kept) match of this pattern is enough
    return best[2] if best else None


# administrative times: when data is released or a market closes/expires, not what is measured
# ("scheduled to be released on August 7, 2026, at 8:30 AM ET", "close at 8:29 AM", "expire the first
# 10:00 AM following the release ...")
_ADMIN = re.compile(r"\b(?:release[sd]?|publish(?:ed|es)?|scheduled(?!\s+for\b)|closes?|expires?|expiration)\b[^.;\n]{0,60}", re.I)


def strip_admin(text: str) -> str:
    return _ADMIN.sub(" ", text)


# A contingency sentence says what happens when the event cannot be observed ("If the World Cup is
# canceled or has not been completed by October 13 ... resolve to "Other"", "If at any point it becomes
# impossible for this team to win ... resolve immediately to No"): its deadline is not the window the
# contract observes, so it is left out of the dates and the on/by window.
_CONTINGENCY = re.compile(
    r"[\"“”']other[\"“”'.]|\bimpossible\b|\bcancel+(?:ed|led)?\b|\bpostponed\b|\bmathematically eliminated\b"
    # "If Spotify does not release who its top artist is by January 31 ...", "If the result of this
    # election isn't known definitively by June 30 ...": a deadline for the data, not the window observed
    r"|\bif\b[^.]{0,120}?(?:\bnot\b|n't\b|\bfails? to\b)[^.]{0,60}?\b(?:release|publish|announce|known|report|declare|certif|made available)",
    re.I)


def strip_contingency(text: str) -> str:
    return " ".join(p for p in re.split(r"(?<=[.!?])\s+|\n+", text) if not _CONTINGENCY.search(p))


_BEFORE = re.compile(r"\b(?:before|prior to)\s+(?:the\s+)?$", re.I)


# a clarification says what is or is not counted ("(does not include extra time or penalties)"):
# it does not negate the condition
_CLARIFICATION = re.compile(r"\([^)]*\)|\b(?:does|do|will)\s+not\s+(?:include|count|apply)\b[^.;]*", re.I)


def is_negated(condition: str) -> bool:
    """YES when something does NOT happen ("Will the Fed NOT cut ...?"), clarifications left out."""
    return bool(_NEGATION.search(_CLARIFICATION.sub(" ", condition)))


def extract_dates(text: str) -> tuple[set[_dt.date], set[tuple[int, int]]]:
    dates: set[_dt.date] = set()
    months: set[tuple[int, int]] = set()
    for m in _FULL_DATE.finditer(text):
        mo = MONTHS.get(m.group(1).lower().rstrip("."))
        if mo is None:
            continue
        try:
            d = _dt.date(int(m.group(3)), mo, int(m.group(2)))
        except ValueError:
            continue
        if _BEFORE.search(text, max(0, m.start() - 12), m.start()) and not _TIME.search(text[m.end():m.end() + 16]):
            # "before Jan 1, 2027" ends with December 31, 2026, as "by Dec 31" does ("before Dec 31,
            # 11:59 PM" is a time on that day: the date stays)
            d -= _dt.timedelta(days=1)
        dates.add(d)
        months.add((d.year, d.month))
    for m in _DATE_RANGE.finditer(text):
        mo = MONTHS.get(m.group(1).lower().rstrip("."))
        if mo is None:
            continue
        try:
            d = _dt.date(int(m.group(4)), mo, int(m.group(3)))
        except ValueError:
            continue
        dates.add(d)
        months.add((d.year, d.month))
    for m in _ISO_DATE.finditer(text):
        try:
            d = _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
        dates.add(d)
        months.add((d.year, d.month))
    for m in _MONTH_YEAR.finditer(text):
        mo = MONTHS.get(m.group(1).lower().rstrip("."))
        if mo is not None:
            months.add((int(m.group(2)), mo))
    return dates, months


def extract_times(text: str) -> set[str]:
    out: set[str] = set()
    for m in _TIME.finditer(text):
        h = int(m.group(1)) % 12 + (12 if m.group(3).lower() == "p" else 0)
        mi = int(m.group(2) or 0)
        if h > 23 or mi > 59:
            continue
        tz = (m.group(4) or "").upper()
        tz = {"EST": "ET", "EDT": "ET", "PST": "PT", "PDT": "PT", "CST": "CT", "CDT": "CT", "GMT": "UTC"}.get(tz, tz)
        out.add(f"{h:02d}:{mi:02d}{(' ' + tz) if tz else ''}")
    return out


def kalshi_ticker_date(event_ticker: str) -> tuple[_dt.date | None, tuple[int, int] | None]:
    """The date (or month) Kalshi encodes in an event ticker: ``KXBTCMAX-26DEC31`` -> 2026-12-31."""
    parts = event_ticker.split("-")
    for part in parts[1:]:
        m = _KALSHI_DATE.match(part)
        if not m:
            continue
        mo = MONTHS.get(m.group(2).lower())
        if mo is None:
            continue
        year = 2000 + int(m.group(1))
        if m.group(3):
            try:
                return _dt.date(year, mo, int(m.group(3))), (year, mo)
            except ValueError:
                return None, None
        return None, (year, mo)
    return None, None


def normalise_source(text: str) -> str:
    words = [w[:-2] if w.endswith("'s") else w for w in _WORD.findall(normalise(text))]
    words = [w for w in words if w not in {"the", "official", "data", "website", "as", "published", "by", "on", "its", "of"}]
    return " ".join(words)


# "resolve according to the listed candidate who receives ...", "according to the name of the
# artist listed by Spotify": what the market resolves to, not who reports it
_NOT_A_SOURCE = re.compile(r"^(?:the\s+)?(?:listed|named|specified|candidate|team|national team|name|player|artist|"
                           r"countries|country|person|outcome|winner|result of|number of)\b", re.I)


def extract_sources(text: str) -> list[str]:
    out: list[str] = []
    for rx in _RES_SOURCE:
        for m in rx.finditer(text):
            s = re.sub(r"\s*\((?:[^)]*\)|[^)]*$)", "", m.group(1)).strip().strip("\"'").strip()  # "ISM (one decimal place)"
            if 2 < len(s) < 120 and not _NOT_A_SOURCE.match(s):
                out.append(s)
    return out


# words of a source that names no one ("the certified results", "official information", "a consensus
# of credible reporting"): it does not disagree with a named source, it just does not name one
_GENERIC_SOURCE_WORDS = frozenset(
    "certified results result final information sources source credible reporting reports consensus "
    "announcement announcements government governing body relevant outcome outcomes sourced a".split())


def is_generic_source(text: str) -> bool:
    words = set(normalise_source(text).split())
    return bool(words) and words <= _GENERIC_SOURCE_WORDS


def sources_match(a: str, b: str) -> bool:
    """Two resolution sources name the same thing: one's words contain the other's, or they
    share most of their words."""
    ta, tb = set(normalise_source(a).split()), set(normalise_source(b).split())
    if not ta or not tb:
        return False
    ea = _find_aliases(a, ENTITY_ALIASES) | extract_providers(a)
    eb = _find_aliases(b, ENTITY_ALIASES) | extract_providers(b)
    if ea & eb:
        return True  # "the FOMC statement" and "Federal Reserve Board of Governors": one organisation
    if ta <= tb or tb <= ta:
        return True
    return len(ta & tb) / len(ta | tb) >= 0.6


_MONTH_FULL = {m[:3]: m for m in ("january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december")}
_MONTH_FULL["sept"] = "september"


def content_tokens(text: str) -> set[str]:
    """Words for similarity: lower case, aliases folded, stop words and bare numbers dropped."""
    low = normalise(text)
    for alias, canon in sorted(ENTITY_ALIASES.items(), key=lambda kv: -len(kv[0])):
        if " " in alias or alias in ("s&p 500",):
            low = re.sub(r"(?<![a-z0-9])" + re.escape(alias) + r"(?![a-z0-9])", canon.replace(" ", "_"), low)
    out = set()
    for w in _WORD.findall(low):
        w = ENTITY_ALIASES.get(w, w).replace(" ", "_")
        w = _MONTH_FULL.get(w, w)  # "Jan" and "January" are one word
        if w in STOPWORDS or w.replace(",", "").replace("$", "").isdigit() or len(w) < 2:
            continue
        out.add(w)
    return out


def extract_placeholders(text: str) -> list[str]:
    return sorted({m.group(0) for m in _PLACEHOLDER.finditer(text)})


def label_in(label: str, text: str) -> bool:
    """``label`` appears in ``text`` as whole words (case and spacing ignored)."""
    lab = normalise(label)
    return bool(lab) and re.search(r"(?<![a-z0-9])" + re.escape(lab) + r"(?![a-z0-9])", normalise(text)) is not None


def is_numeric_label(label: str) -> bool:
    """A bucket or threshold label ("84-85°F", "$150,000 or above"), compared as a bound, not a name."""
    return any(ch.isdigit() for ch in label)


def _first_sentence(text: str) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)
    return parts[0] if parts else ""


# --- the two venues ---------------------------------------------------------------------------------


def _parse_close(s: str | None) -> _dt.date | None:
    if not s:
        return None
    try:
        return _dt.datetime.fromisoformat(s.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return _dt.date.fromisoformat(s[:10])
        except ValueError:
            return None


def _common(t: Terms, condition_text: str, all_text: str) -> Terms:
    t.entities = _find_aliases(all_text, ENTITY_ALIASES)
    t.places = _find_aliases(all_text, PLACE_ALIASES)
    observed = strip_admin(strip_contingency(condition_text))
    t.dates, t.months = extract_dates(observed)
    t.times = extract_times(observed)
    t.window = "by" if _WINDOW_BY.search(strip_contingency(condition_text)) else "on"
    t.placeholders = extract_placeholders(all_text)
    t.tokens = content_tokens(t.title + " " + t.outcome_label)
    t.measure = extract_measure(condition_text)
    t.quarters = extract_quarters(condition_text)
    t.direction = extract_direction(condition_text)
    t.period = extract_periods(condition_text)
    t.bet_type = extract_bet_type(condition_text) if _is_game(all_text) else ""
    t.joint = bool(_JOINT.search(condition_text)) or bool(_BOTH.search(t.title))
    t.providers = extract_providers(all_text)
    return t


_GAME = re.compile(r"\b(?:game|match|vs\.?|versus|nfl|nba|mlb|nhl|ncaa|premier league|points|goals|runs|innings|quarter|half)\b", re.I)


_BOTH = re.compile(r"\bboth\b.+\band\b|\band\b.+\bboth\b", re.I)  # "Will X and Y both ...?" in a title


def _is_game(text: str) -> bool:
    return bool(_GAME.search(text))


def polymarket_terms(market: dict) -> Terms:
    """Terms of a Polymarket market (CLOB ``/markets`` item, optionally merged with its Gamma
    market: ``groupItemTitle``, ``resolutionSource``)."""
    question = str(market.get("question") or "")
    description = str(market.get("description") or "")
    label = str(market.get("groupItemTitle") or market.get("group_item_title") or "")
    t = Terms(venue="polymarket", market_id=str(market.get("condition_id") or market.get("conditionId") or ""),
              title=question, rules=description, outcome_label=label)
    condition = question + " " + _first_sentence(description)
    _common(t, question + " " + description, question + " " + description + " " + label + " " + str(market.get("resolutionSource") or ""))
    # a multi-outcome market's label is often the bucket ("84-85°F"), and its description is the
    # event's text shared by every bracket ("...a cut/increase of 12.5 bps..."): the market's own
    # words (label, question) come first; a single market's description is its contract
    if label:
        # a named outcome ("Sam Raskin", "Qatar") is who, not how much: a number in the event's
        # description ("mathematicians under 40") is background, only the label or question bounds it
        t.bound = (extract_bound(label) or _exact_label(label) or extract_bound(question)
                   or (extract_bound(description) if is_numeric_label(label) else None))
        t.direction = extract_direction(question + " " + label) or t.direction
    else:
        # the question states the contract's number ("at least 57.0"); a description also carries
        # background numbers ("a reading above 50 indicates expansion"), so it only fills a gap
        qb, db = extract_bound(question), extract_bound(description)
        if qb is not None and db is not None and db.op != "between" and qb.op != "between" and qb.value \
                and abs(db.value - qb.value) <= abs(qb.value) / 1000 and (not db.unit or not qb.unit or db.unit == qb.unit):
            qb = db  # the description restates the question's number exactly ("reach $150,000" -> "above $149,999.99")
        t.bound = qb or db or extract_bound(label)
        t.direction = extract_direction(question) or t.direction
    t.negated = is_negated(condition)
    raw = [str(market["resolutionSource"])] if market.get("resolutionSource") else []
    raw += extract_sources(description)
    t.sources_raw = raw
    t.sources = [normalise_source(s) for s in raw]
    t.close_date = _parse_close(market.get("end_date_iso") or market.get("endDate"))
    return t


_BARE_NUMBER = re.compile(r"^\s*" + _NUM + r"\s*$", re.I)


def _exact_label(label: str) -> Bound | None:
    """A bracket label that is just a value ("3.4%", "4.2%"): YES at exactly that value."""
    sign = -1 if label.strip()[:1] in ("-", "−") else 1
    m = _BARE_NUMBER.match(label.strip().lstrip("-−"))
    if not m or not m.group("num"):
        return None
    try:
        value = parse_number(m.group("num"), m.group("mult"))
    except ValueError:
        return None
    return Bound(op="=", value=sign * value, unit=_unit(m.group("cur"), m.group("unit")), text=label.strip())


_STRIKE_OPS = {"greater": ">", "greater_or_equal": ">=", "less": "<", "less_or_equal": "<=", "between": "between"}


def kalshi_terms(market: dict, series: dict | None = None, event: dict | None = None) -> Terms:
    """Terms of a Kalshi market (``/markets`` item) with its series (settlement sources) and event."""
    title = str(market.get("title") or "")
    sub = str(market.get("yes_sub_title") or market.get("subtitle") or "")
    rules1 = str(market.get("rules_primary") or "")
    rules2 = str(market.get("rules_secondary") or "")
    t = Terms(venue="kalshi", market_id=str(market.get("ticker") or ""), title=title, rules=(rules1 + " " + rules2).strip(),
              outcome_label=sub)
    _common(t, rules1 + " " + title, " ".join((title, sub, rules1, rules2, str((event or {}).get("title") or ""))))
    st = str(market.get("strike_type") or "")
    bound = None
    if st in _STRIKE_OPS:
        try:
            floor = Decimal(str(market["floor_strike"])) if market.get("floor_strike") is not None else None
            cap = Decimal(str(market["cap_strike"])) if market.get("cap_strike") is not None else None
        except InvalidOperation:
            floor = cap = None
        if (floor is not None and not floor.is_finite()) or (cap is not None and not cap.is_finite()):
            floor = cap = None  # a malformed strike is no strike: the rules text decides
        op = _STRIKE_OPS[st]
        text_bound = extract_bound(rules1) or extract_bound(sub)
        unit = text_bound.unit if text_bound else ""
        if op == "between" and floor is not None and cap is not None:
            bound = Bound(op=op, value=_plain(floor), upper=_plain(cap), unit=unit, text=f"strike {st} {floor}-{cap}")
        elif op in (">", ">=") and floor is not None:
            bound = Bound(op=op, value=_plain(floor), unit=unit, text=f"strike {st} {floor}")
            if (op == ">" and floor % 1 == Decimal("0.5") and text_bound is not None and text_bound.op == ">="
                    and text_bound.value == floor + Decimal("0.5")):
                # a count ("100+ receiving yards") struck at 99.5: the market's own words say "at least 100"
                bound = Bound(op=">=", value=_plain(text_bound.value), unit=unit, text=f"strike {st} {floor} ({text_bound.text})")
        elif op in ("<", "<=") and cap is not None:
            bound = Bound(op=op, value=_plain(cap), unit=unit, text=f"strike {st} {cap}")
    # the rules are the contract; the subtitle is a label that may round the wording
    t.bound = bound or extract_bound(rules1) or extract_bound(sub) or extract_bound(title)
    t.negated = is_negated(_first_sentence(rules1) + " " + sub)
    t.direction = extract_direction(title + " " + sub) or t.direction  # the market's own outcome first
    if market.get("mve_selected_legs") or market.get("mve_collection_ticker") or str(title).lower().startswith("yes ") and "," in title:
        t.joint = True  # a multivariate (combo) market: YES needs every leg
    t.providers |= extract_providers(" ".join(str(s.get("name") or "") for s in ((series or {}).get("settlement_sources") or [])))
    raw = [str(s.get("name") or "") for s in ((series or {}).get("settlement_sources") or []) if s.get("name")]
    raw += extract_sources(rules1 + " " + rules2)
    t.sources_raw = raw
    t.sources = [normalise_source(s) for s in raw]
    t.close_date = _parse_close(market.get("close_time") or market.get("expiration_time"))
    tdate, tmonth = kalshi_ticker_date(str(market.get("event_ticker") or ""))
    if not t.dates and tdate is not None:
        t.dates.add(tdate)
    if tmonth is not None and not t.months:
        t.months.add(tmonth)
    return t
