"""Page furniture: what a news page shows besides the news. Timestamps ("10:49 pm ET June 16,
2026", "Updated ..."), share and follow prompts, bylines, photo credits, list headings, "Read
more" and newsletter lines, video-player and advertising junk.

:func:`furniture_spans` finds them as character spans of the stored text; :func:`quotable_spans`
is :func:`~chatbot.common.text.sentence_spans` with them cut out, so answers, summaries,
briefings and timelines never quote them, while every span still points at the original
characters. Precision comes first: each rule names a shape that a sentence of news does not
have (a line of only names, a timestamp followed by a prompt), never a topic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chatbot.common.text import sentence_spans

Span = tuple[int, int]

# --- the parts rules are made of ------------------------------------------------------------------

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    r"|Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)\b\.?"
)
_TZ = (
    r"\(?(?:ET|EST|EDT|CT|CST|CDT|MT|MST|MDT|PT|PST|PDT|AKDT|HST|GMT|UTC|BST|CET|CEST|EET|EEST"
    r"|IST|JST|KST|AEST|AEDT|HKT|SGT)\b\)?"
)
_CLOCK = (
    r"\d{1,2}(?::\d{2})?\s*(?:[ap]\.?\s?m\b\.?|[AP]\.?\s?M\b\.?)"
    rf"|\d{{1,2}}:\d{{2}}(?=\s*{_TZ})"
)
_TIME = rf"(?:{_CLOCK})(?:\s*{_TZ})?"
_DATE = (
    rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}}\b)?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:,?\s+\d{{4}}\b)?"
    r"|\d{4}-\d{2}-\d{2}\b|\d{1,2}/\d{1,2}/\d{2,4}\b"
)
_PART = rf"(?:{_TIME}|{_DATE}|{_WEEKDAY})"
_STAMP = rf"{_PART}(?:(?:\s*[,|·•/(]\s*|\s+(?:at|on)\s+|\s+[–—-]\s+|\s*\)\s*|\s+){_PART})*\)?"
_LABEL = (
    r"(?:(?:Last\s+)?[Uu]pdated|UPDATED|Published|PUBLISHED|Posted|POSTED|Originally\s+published"
    r"|First\s+published|Modified)(?:\s+(?:on|at))?\s*:?\s*"
)
_STAMP_RE = re.compile(rf"(?P<label>{_LABEL})?(?P<stamp>{_STAMP})")
_HAS_CLOCK = re.compile(_CLOCK)
_HAS_TZ = re.compile(rf"\d\s*{_TZ}|[ap]\.?m\.?\s*{_TZ}")
_HAS_DATE = re.compile(_DATE)
_HAS_YEAR_DATE = re.compile(rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{4}}-\d\d-\d\d")
_HAS_WEEKDAY = re.compile(rf"\b{_WEEKDAY}")

# A person's name: two to four capitalised words (initials, particles and "Jr." allowed).
_NAME_TOKEN = r"(?:[A-Z][a-zA-Z'’-]+|[A-Z]\.)"
_PARTICLE = r"(?:de|da|di|do|dos|du|del|der|van|von|la|le|bin|al|el|ten|ter)"
_NAME = (
    rf"{_NAME_TOKEN}(?:\s+(?:{_PARTICLE}\s+)?{_NAME_TOKEN}){{1,3}}"
    r"(?:,?\s+(?:Jr|Sr)\.?|\s+I{2,3}\b|\s+IV\b)?"
)
_NAMES = rf"{_NAME}(?:\s*(?:,\s*(?:and\s+)?|\s+and\s+|\s*&\s*){_NAME})+"
# Outlets that sign a byline or a photo credit.
_OUTLET = (
    r"(?:USA TODAY(?: Network| Sports)?|USA Today|CNN(?: Business| Sport| Opinion)?"
    r"|(?:The )?Associated Press|AP|Reuters|Bloomberg(?: News)?|AFP|NBC News|CBS News|ABC News"
    r"|Fox News|NPR|BBC(?: News)?|The Week|PolitiFact(?:\.com)?)"
)
# Any capitalised organisation after a byline's comma: "Jane Doe, Providence Journal".
_ANY_OUTLET = r"(?:The\s+)?[A-Z][\w&'’.-]*(?:\s+(?:of\s+|the\s+|for\s+)?[A-Z][\w&'’.-]*){0,5}"
# Photo agencies: the last part of a slash credit ("Jane Doe/AP", "Maxar/Getty Images").
_AGENCY = (
    r"(?:(?:[\w-]+\s+){1,4}via\s+Getty\s+[Ii]mag\w*|Getty\s+[Ii]mag\w*|AP(?:\s+Photo)?|AFP|Reuters"
    r"|EPA(?:-EFE)?|EFE|dpa|PA(?:\s+Images|\s+Wire)?|iStock(?:photo)?"
    r"|Shutterstock|REX|Bloomberg|NurPhoto|Sipa(?:\s+USA)?|SOPA\s+Images|LightRocket|WireImage"
    r"|FilmMagic|Imagn(?:\s+Images)?|USA\s+TODAY(?:\s+(?:Sports|Network))?|CNN|Anadolu(?:\s+Agency)?"
    r"|Xinhua|TASS|ZUMA(?:\s+(?:Press|Wire))?|Alamy|Pool|POOL|FILE|File|Redux|Polaris|UPI"
    r"|Corbis|Newscom|Kyodo(?:\s+News)?|Yonhap|Planet\s+Labs(?:\s+PBC)?|Maxar(?:\s+Technologies)?"
    r"|The\s+Washington\s+Post|The\s+New\s+York\s+Times|Los\s+Angeles\s+Times|Handout"
    r"|[A-Z][\w-]*\s+(?:Photos|Images|Pictures))"
)
# "Jane Doe/AP", "Christophe Gateau/picture-alliance/dpa/AP": a capitalised name, then parts
# of any case, the last an agency.
_SLASH = r"\s*/+\s*"
_CREDIT_SEG = r"[A-Z][\w.'’&\\-]*(?:\s+(?:de\s+|van\s+|von\s+|la\s+)?[A-Z][\w.'’&\\-]*){0,4}"
_MORE_SEG = r"[\w.'’&\\-]+(?:\s+[\w.'’&\\-]+){0,3}"
_CREDIT_END = rf"(?:{_AGENCY})(?:{_SLASH}(?:{_AGENCY}|Courtesy\s+{_CREDIT_SEG}))*"
_SLASH_CREDIT = rf"{_CREDIT_SEG}{_SLASH}(?:{_MORE_SEG}{_SLASH})*{_CREDIT_END}"
_CREDIT = rf"(?:{_SLASH_CREDIT}|{_CREDIT_END})"
_CREDIT_TAIL = rf"(?:{_CREDIT_SEG}\s*/\s*)+Courtesy\s+{_CREDIT_SEG}"

# --- whole lines ----------------------------------------------------------------------------------

# An agency on its own line ("Associated Press", "-- Reuters").
_AGENCY_LINE = re.compile(
    r"[(\-–—−‒\s]*(?:The\s+)?(?:Associated Press|AP|Reuters|AFP|CNN|USA TODAY(?: Network)?"
    r"|Bloomberg(?: News)?|Staff(?: and wire)? reports?|Wire reports)\)?\.?"
)
_LINE_RULES: tuple[re.Pattern[str], ...] = (
    # a byline signed by a known outlet ("Jane Doe and John Roe, USA TODAY")
    re.compile(rf"(?:{_NAMES}|{_NAME})\s*,\s*{_OUTLET}\.?"),
    # a signed entry of a live blog: "– Joey Garrison", "-- Associated Press"
    re.compile(rf"[-–—−‒]+\s*(?:{_NAMES}|{_NAME}|{_OUTLET})(?:\s*,\s*{_ANY_OUTLET})?\.?"),
    _AGENCY_LINE,
    # a dateline alone: "CNN —", "New York CNN Business —"
    re.compile(
        r"(?:[A-Z][\w.'’-]*(?:[ ,]+[A-Z][\w.'’-]*){0,4}\s+)?\(?(?:CNN(?: Business| Sport)?|AP"
        r"|Reuters)\)?\s*[—–-]+"
    ),
    re.compile(
        r"From (?:the )?(?:USA TODAY(?: Network)?|staff|wire|news|Associated Press|Reuters)\b"
        r"[\w ,&'’]{0,60}\breports?\.?"
    ),
    re.compile(r"(?:Contributing|Contributors?|Additional reporting)(?: by)?\s*:?\s+[A-Z].{0,200}"),
    # a link to another story: "More:How ...", "READ MORE: ...", "Related: ..."
    re.compile(
        r"(?:[^\w\s\"“‘'(]{1,3}\s*)?"  # an emoji pointing at the link
        r"(?:READ MORE|Read [Mm]ore|MORE|More|RELATED|Related|ALSO READ|Also [Rr]ead|READ ALSO"
        r"|SEE ALSO|See [Aa]lso|READ|Read|WATCH|Watch(?: live)?|LISTEN|Listen|VIDEO|Video)"
        r"\s*:.{0,240}"
    ),
    re.compile(r"Read (?:more|the full story)\b[^:]{0,60}:.{0,240}"),
    # a gallery's link, not a caption: "Photos: Hurricane Ian's path"
    re.compile(r"(?:PHOTOS|Photos|GALLERY|Gallery|In pictures)\s*:[^.!?]{0,100}[.!?:]?"),
    # newsletter and subscription blocks of the outlet (not "Sign up for alerts from the county")
    re.compile(
        r"(?:Subscribe to|Sign up for|Sign up to|SUBSCRIBE|SIGN UP)\b.*\b(?:newsletters?|inbox"
        r"|our|USA TODAY|The Week|CNN|digital access|subscri\w+)\b.*"
    ),
    re.compile(
        r"(?:Video Ad Feedback|Ad Feedback|Video player was slow to load content"
        r"|(?:\d+\.\s*)?How relevant is this ad to you\?|Your effort and contribution in providing"
        r" this feedback).*"
    ),
    re.compile(
        r"Share\s*(?:[|·•,]?\s*(?:Facebook|Twitter|X|LinkedIn|Email|E-mail|WhatsApp|Reddit"
        r"|Pinterest|Threads|Bluesky|Flipboard|Print|Copy [Ll]ink|Comments?)\b)+"
    ),
)
# A list heading: numbered, no sentence end, and a label ("2) Video game roundup: ...") or a few
# words (a longer numbered line may be a claim); a heading only when body text follows it, for a
# run of numbered lines is a list of results ("10. (27) Nico Hulkenberg, Haas"), which is news.
_LIST_HEADING = re.compile(
    r"\d{1,2}[.)]\s+(?:[^\s:]+(?:\s+[^\s:]+){0,6}|[^:]{1,60}:\s.{0,80})"
    r"(?<![.!?…])(?<![.!?…][\"'”’)])"
)
_NUMBERED = re.compile(r"\(?\d{1,3}[.)]\s")
_BODY = re.compile(r".{60,}|.*[.!?]\s+[\"“]?[A-Z]")
# Only names: a byline where an agency line follows or furniture is near ("Share this update",
# a headline, "Victoria Hernandez and Seth Vertelney"); elsewhere it is as likely a list of
# nominees ("Dane Laffrey and George Reeve, Maybe Happy Ending"), which is news.
_NAMES_LINE = re.compile(rf"{_NAMES}(?:\s*,\s*{_ANY_OUTLET})?\.?")
# A disclosure block: the whole line goes ("... we may earn an affiliate fee ...").
_AFFILIATE = re.compile(
    r"\b(?:we|us|USA TODAY|Reviewed)\b.{0,40}\b(?:earn|receive)\b.{0,30}\b(?:commission|affiliate"
    r" fee)|\bmay earn us\b"
)
_BY = re.compile(r"By\s+(?P<rest>[A-Z].{2,200})")
_BY_WORDS = re.compile(r"[\w.'’-]+")
_BY_LOWER = frozenset(
    "and of the for de da van von del der la le bin al to with via in staff writer writers reporter"
    " reporters correspondent correspondents contributor contributors columnist editor special"
    " news service".split()
)
# "By Monday, ...", "By Christmas Eve, ...": a time, not a name.
_BY_TIME = re.compile(
    rf"(?:{_WEEKDAY}|{_MONTH}|Christmas|Thanksgiving|Easter|Halloween|Hanukkah|Election|Labor"
    r"|Memorial|Independence|New|Noon|Midnight|Then|Now|Early|Late|Mid|Spring|Summer|Fall|Autumn"
    r"|Winter|Day|Week|Year|Tonight|Today)\b"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|(?<![\w@])@\w{2,}")

# --- whole sentences ------------------------------------------------------------------------------

# "Click here ...", "For the latest news, click here.": never inside a quotation (a scam's "click
# here to claim your refund" is news).
_CLICK = (
    r"(?:(?:To|For|If)\b[^.!?\"“”]{0,100}?,?\s+)?(?:[Jj]ust\s+|[Pp]lease\s+)?(?:[Cc]lick|[Tt]ap)"
    r"(?: or click)? here\b[^.!?\"“”]{0,120}[.!]?\)?"
)
# The rest of a sentence: never across a sentence end that splitting missed ("Pilot Flying J. FJ
# Management sold ...").
_REST = r"(?:(?![.!?…][\"'”’)]*\s+[\"“‘']?[A-Z]).)*"
_SENTENCE_RULES: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"(?:[A-Z][A-Z0-9 '’&!-]{2,40}:\s*|Editor['’]s [Nn]ote:\s*"
        r"|[^.!:]{0,80}:\s*(?=Sign up|Subscribe)"
        r"|Get our free \w+ newsletter\s+)?(?:"
        rf"(?:Sign up|Sign Up|SIGN UP|Subscribe|SUBSCRIBE)\b{_REST}"
        r"\b(?:newsletters?|inbox|alerts?|texts?"
        r"|e-?mails?|updates|today|here|now|free|digital|subscri\w+)\b"
        r"|(?:Sign up|Subscribe) (?:to|for) (?:our|the|USA TODAY|CNN)\b"
        rf"|{_CLICK}"
        r"|Keep refreshing\b|Refresh (?:this|the) page\b"
        r"|Follow (?:us|along (?:as we|here|live|with (?:us|our))|live|our|the latest|him on"
        r"|her on|them on|me on)\b|Follow @"
        r"|Join us on (?:Twitter|Facebook|X|Instagram)\b"
        r"|Play (?:the )?USA TODAY\b"
        r"|Support (?:local|quality|independent) journalism\b"
        r"|Support our (?:journalism|reporting|work)\b"
        rf"){_REST}"
    ),
    re.compile(
        rf"Read (?:more\b{_REST}|the full (?:story|article|report|interview)\b{_REST}"
        r"|the (?:story|article)(?:[^.!?]{0,80}\bhere)?\s*[.:!]?)"
    ),
    re.compile(
        r"Share this (?:update|post|article|story|entry|page|video|photo|gallery)\s+(?:with|on|to"
        rf"|via)\b{_REST}"
    ),
    re.compile(
        r"(?:Skip )?(?:Advertisement|ADVERTISEMENT)(?:\s*[-–—]\s*(?:Article|Story) continues"
        rf" below)?|(?:Article|Story) continues (?:below|after)\b{_REST}|Continue reading\b{_REST}"
        rf"|Back to (?:the )?top|Scroll (?:down )?to continue\b{_REST}"
    ),
    re.compile(r"(?:Looking for a free mini puzzle|Need a break)\?"),
    re.compile(
        r"\(?(?:Editor['’]s [Nn]ote:\s*)?This (?:story|article|post|report) (?:has been|was)"
        rf" updated\b{_REST}"
    ),
    re.compile(
        r"Updated with (?:breaking news|new information|additional information|more details"
        rf"|additional reporting)\b{_REST}"
    ),
    # photo credits standing alone: "(Photo: Getty Images)", "Courtesy Hasbro"
    re.compile(
        r"\((?:Photos?|Images?|Pictures?|Video)(?: credit)?(?::|\s+by\b|\s+courtesy\b)[^()]*\)"
    ),
    re.compile(
        rf"(?:(?:Photo|Image|Picture)\s+)?(?:[Cc]redit|[Cc]ourtesy(?: of)?|by)\s*:?\s*{_CREDIT}"
    ),
    re.compile(
        rf"(?:Photos?|Images?|Pictures?)(?: credit)?(?::\s*|\s+by\s+)(?:{_CREDIT}|{_NAMES}|{_NAME})"
        rf"(?:\s*,\s*{_ANY_OUTLET})?\.?"
    ),
    re.compile(r"(?:Courtesy|COURTESY)(?: of)?\s+[A-Z][\w.'’&-]*(?:\s+[A-Z][\w.'’&-]*){0,4}"),
    re.compile(r"Credit:\s*[A-Z][^.!?]{0,80}"),
)
# Rules that scan a sentence, tried only when a cheap hint is in it.
_CONTRIBUTED = re.compile(
    r"[-–—−‒]*\s*.{0,200}\bcontributed (?:to this (?:report|story|article)|reporting)\.?"
)
_CREDIT_ONLY = re.compile(rf"\(?(?:{_CREDIT}|{_CREDIT_TAIL})\)?")  # "Jane Doe/AP"
_CREDIT_HINT = re.compile(rf"/+\s*(?:{_MORE_SEG}{_SLASH})*(?:{_CREDIT_END}|Courtesy)")
_TAIL_HINT = re.compile(r"Sign up|Subscribe|[Cc]lick here|[Tt]ap here|Read more")
# Each list as one pattern: one pass of the regex engine per line or sentence, not one per rule.
_LINE_RULE = re.compile("|".join(f"(?:{rule.pattern})" for rule in _LINE_RULES))
_SENTENCE_RULE = re.compile("|".join(f"(?:{rule.pattern})" for rule in _SENTENCE_RULES))
_CONTACT = re.compile(
    r"(?:Contact|Reach|Email|E-mail|Follow|Send|Write to)\b\s*:?\s*(?:[A-Z@]|him\b|her\b|them\b)"
    r"|(?:He|She|They) can be reached\b"
    r"|(?:You can |Please )?(?:[Ff]ollow|[Rr]each|[Ee]-?mail|[Cc]ontact) (?:him|her|them|me)\b"
)
_BIO = re.compile(
    rf"{_NAME}\s+(?:is|was)\s+(?:a|an|the)\s+[^.]{{0,120}}\b(?:reporter|writer|columnist|editor"
    r"|correspondent|journalist|producer|intern|contributor|critic|fellow)\b"
    rf"|{_NAME}\s+(?:covers|writes about|reports on)\b"
)
_SPEECH = re.compile(
    r"[,.!?…]['\"”’]\s+(?:[\w'’.-]+\s+){0,6}(?:said|says|wrote|writes|told|tweeted|posted|added"
    r"|asked|explained|continued)\b"
)
_FOR_READERS = re.compile(
    r"\b(?:for (?:more )?information|to (?:register|apply|RSVP|donate|volunteer|enroll|order))\b"
)
_SHORT_QUESTION = re.compile(r"[^.!?]{1,60}\?")

# --- glued in front of a sentence -----------------------------------------------------------------

_SEPARATOR = re.compile(r"\s*[:|•·–—-]\s*|\s+")
_BUTTON = (
    r"(?:(?:Share|Email) this (?:story|article)|Tweet|Share|Facebook|Twitter|Email|E-mail|LinkedIn"
    r"|Print|Pinterest|WhatsApp|Comment|Save)\b"
)
_SHARE_PREFIX = re.compile(
    r"(?:Share this (?:update|post|article|story|entry|page|video|photo|gallery|item)"
    r"|Share (?:on|via) (?:Facebook|Twitter|X|LinkedIn|Email|WhatsApp)|Copy link|Link copied"
    r"|Share(?:\s*[|·•,]?\s*(?:Facebook|Twitter|X|LinkedIn|Email|WhatsApp|Copy link)\b)+"
    # a row of buttons: "Tweet Facebook Email Email this story Share Share this story"
    r"|(?=(?:\w+\s+){0,6}(?:Tweet|Share)\b)"
    rf"{_BUTTON}(?:\s+{_BUTTON}){{2,}})"
)
_CREDIT_PREFIX = re.compile(rf"(?:{_SLASH_CREDIT})(?=\s+[\"“‘'(]?[A-Z])")
_BYLINE_PREFIX = re.compile(rf"By\s+(?:{_NAMES}|{_NAME})\s*,\s*{_OUTLET}(?=\s+[\"“‘'(]?[A-Z])")
# The byline of a live-blog entry, after its headline: "... record Victoria Hernandez and Seth
# Vertelney After scoring ...".
_ENTRY_BYLINE = re.compile(
    rf"(?<=[a-z0-9'’\"”)]\s)(?:By\s+)?(?:{_NAMES}|{_NAME}\s*,\s*{_OUTLET})(?=\s+[\"“‘']?[A-Z]\w*\s+[a-z])"
)

# --- at the end of a line -------------------------------------------------------------------------

# The photographer before a credit's slash: one or two words and an initial ("Timothy A.
# Clary"); a longer run would eat the caption, and never its "Queen Elizabeth II".
_SHORT_NAME = (
    r"(?:(?!(?:II|III|IV|Jr\.?|Sr\.?)\s)[A-Z][\w.'’&\\-]*\s+(?:[A-Z]\.\s+)?)?"
    r"(?!(?:II|III|IV)\b)[A-Z][\w.'’&\\-]*"
)
# A caption's credit with no full stop before it: "... on an iPhone Jaap Arriens/NurPhoto/Getty
# Images".
_CREDIT_SUFFIX = re.compile(
    rf"(?<!\S){_SHORT_NAME}{_SLASH}(?:{_MORE_SEG}{_SLASH})*(?:{_CREDIT_END}|Courtesy\s+{_CREDIT_SEG})$"
)
# A credit between two captions of a gallery: "... on Wednesday. Al Bello/Getty Images Williams
# reacts ...": a slash credit ending in an agency, with a capitalised word after it.
_MID_CREDIT = re.compile(
    rf"(?<!\S){_SHORT_NAME}{_SLASH}(?:{_MORE_SEG}{_SLASH})*(?:{_AGENCY})(?=\s+[\"“‘']?[A-Z])"
)
_GALLERY = re.compile(r"(?:Photos|PHOTOS|In [Pp]ictures|Gallery|GALLERY)\s*:\s*")
_WORD = re.compile(r"\S+")
_HIDE_CAPTION = re.compile(r"\s*Hide Caption \d+ of \d+|\s+Prev Next$")
_PAREN_CREDIT = re.compile(
    r"\s*\((?:(?:Photos?|Images?|Pictures?|Video)(?: credit)?(?::|\s+by\b|\s+courtesy\b)"
    r"|Read more\b|Click here\b|See also\b|RELATED\b|Related:)[^()]{1,160}\)"
)
# A prompt glued after the last full stop of a sentence ("... by 3 p.m. Click here to get ...",
# "... the road.Sign up for our newsletter"): splitting missed the end before it.
_TAIL_PROMPT = re.compile(
    r"(?<=[.!?])\s*(?:(?:Sign up|Subscribe)\b[^\"“”]*\b(?:newsletters?|inbox|e-?mail)\b[^\"“”]*"
    rf"|{_CLICK}|Read more(?: here)?[.:]?)$"
)


def furniture_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Spans ``[s, e)`` of page furniture in ``text[start:end]``: sorted, not overlapping."""
    end = len(text) if end is None else end
    found: list[Span] = []
    lines = list(_lines(text, start, end))
    whole = [
        _is_furniture_line(text[ls:le]) or _is_furniture_sentence(text[ls:le]) for ls, le in lines
    ]
    for k, (ls, le) in enumerate(lines):
        following = lines[k + 1] if k + 1 < len(lines) else None
        if not whole[k] and _NAMES_LINE.fullmatch(text, ls, le):
            after = following is not None and bool(_AGENCY_LINE.fullmatch(text, *following))
            whole[k] = after or any(whole[max(0, k - 2) : k])
        elif not whole[k] and following is not None and _LIST_HEADING.fullmatch(text, ls, le):
            whole[k] = not _NUMBERED.match(text, *following) and bool(_BODY.match(text, *following))
        if whole[k]:
            found.append((ls, le))
        else:
            found.extend(_within_line(text, ls, le))
    if "Photos" in text[start:end] or "pictures" in text[start:end]:
        found.extend(_gallery_titles(text, start, end))
    return _merge(text, found)


def quotable_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """The sentence spans of ``text[start:end]`` with page furniture cut out: a sentence that is
    furniture is left out, one with furniture glued to it keeps only the rest. Spans index
    ``text`` itself, so ``text[s:e]`` is what a citation quotes."""
    end = len(text) if end is None else end
    spans = sentence_spans(text, start, end)
    furniture = furniture_spans(text, start, end)
    if not furniture:
        return spans
    out: list[Span] = []
    k = 0
    for s, e in spans:
        while k < len(furniture) and furniture[k][1] <= s:
            k += 1
        cursor = s
        j = k
        while j < len(furniture) and furniture[j][0] < e:
            fs, fe = furniture[j]
            if fs > cursor:
                out.extend(_piece(text, cursor, fs))
            cursor = max(cursor, fe)
            j += 1
        if cursor < e:
            out.extend(_piece(text, cursor, e))
    return out


def is_furniture(text: str) -> bool:
    """Whether a sentence (or a line) is all furniture: nothing of it is left to quote."""
    return bool(text.strip()) and not quotable_spans(text)


# --- internals ------------------------------------------------------------------------------------


def _lines(text: str, start: int, end: int) -> Iterator[Span]:
    cursor = start
    while cursor < end:
        stop = text.find("\n", cursor, end)
        stop = end if stop < 0 else stop
        s, e = cursor, stop
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            yield s, e
        cursor = stop + 1


def _is_furniture_line(line: str) -> bool:
    if _LINE_RULE.fullmatch(line):
        return True
    if (
        len(line) <= 600
        and ("commission" in line or "affiliate" in line)
        and _AFFILIATE.search(line)
    ):
        return True
    return _is_byline(line)


def _is_byline(line: str) -> bool:
    """ "By Jane Doe and John Roe, USA TODAY", never "By Monday, the fire had spread"."""
    match = _BY.fullmatch(line)
    if match is None or any(c.isdigit() for c in _EMAIL.sub("", match["rest"])):
        return False
    rest = _EMAIL.sub("", match["rest"])
    if _BY_TIME.match(rest):
        return False
    tokens = _BY_WORDS.findall(rest)
    if len(tokens) < 2 or not (tokens[0][0].isupper() and tokens[1][0].isupper()):
        return False
    return all(t[0].isupper() or t.lower() in _BY_LOWER for t in tokens)


def _within_line(text: str, ls: int, le: int) -> list[Span]:
    """Furniture inside a line that is not furniture as a whole: whole sentences, prefixes glued
    in front of a sentence, credits at the end of a caption."""
    sentences = sentence_spans(text, ls, le)
    marks: list[Span] = []
    whole = [False] * len(sentences)
    contact = False
    for k, (s, e) in enumerate(sentences):
        if _is_furniture_sentence(text[s:e], inline=k > 0):
            marks.append((s, e))
            whole[k] = True
            contact = contact or bool(_CONTACT.match(text, s, e))
            continue
        cursor, entry = s, False
        for _ in range(6):  # a timestamp, then a share prompt, then a credit ...
            stop, kind = _prefix(text, cursor, e)
            if stop is None:
                break
            marks.append((cursor, stop))
            cursor, entry = stop, entry or kind == "entry"
            if cursor >= e or _is_furniture_sentence(text[cursor:e]):
                marks.append((cursor, e))
                cursor = e
                break
        if entry and cursor < e:
            # A live-blog entry: timestamp, prompt, headline, byline, text.
            head = text[cursor : min(e, cursor + 200)]
            byline = _ENTRY_BYLINE.search(head)
            if byline is not None and _is_headline(head[: byline.start()]):
                marks.append((cursor + byline.start(), cursor + byline.end()))
        if cursor < e and _CREDIT_HINT.search(text, cursor, e):
            # a credit is short: look for one in the sentence's last characters only
            tail = _CREDIT_SUFFIX.search(text, max(cursor, e - 160), e)
            if tail is not None and tail.start() > cursor:
                marks.append((tail.start(), e))
            credits = [m.span() for m in _MID_CREDIT.finditer(text, cursor, e)]
            marks.extend(credits)
            if credits and _GALLERY.match(text, cursor, e):
                marks.append((cursor, credits[0][0]))  # the gallery's title
        if cursor < e and "(" in text[cursor:e]:
            marks.extend(m.span() for m in _PAREN_CREDIT.finditer(text, cursor, e))
        hint = cursor < e and _TAIL_HINT.search(text, cursor, e)
        tail = _TAIL_PROMPT.search(text, cursor, e) if hint else None
        if tail is not None and tail.start() > cursor:
            head = text[cursor : tail.start()].strip()
            # "What's everyone talking about?Sign up for ...": the teaser goes with it
            marks.append((cursor if _SHORT_QUESTION.fullmatch(head) else tail.start(), e))
        if cursor < e and ("Hide Caption" in text[cursor:e] or "Prev Next" in text[cursor:e]):
            marks.extend(m.span() for m in _HIDE_CAPTION.finditer(text, cursor, e))
    # An author's bio goes with the contact line after it ("Jane Doe covers ... Reach her at").
    if contact:
        for k, (s, e) in enumerate(sentences):
            if not whole[k] and _BIO.match(text, s, e):
                marks.append((s, e))
                whole[k] = True
    # A teaser question goes with the prompt after it ("Need a break? Play the ...").
    for k in range(len(sentences) - 1):
        s, e = sentences[k]
        if not whole[k] and whole[k + 1] and _SHORT_QUESTION.fullmatch(text, s, e):
            marks.append((s, e))
    return marks


def _gallery_titles(text: str, start: int, end: int) -> list[Span]:
    """A gallery's title glued before each caption ("Photos: The life of Queen Elizabeth II The
    Queen rides ..."): the words that three or more of its captions begin with."""
    groups: dict[tuple[str, ...], list[tuple[int, list[re.Match[str]]]]] = {}
    for link in _GALLERY.finditer(text, start, end):
        stop = text.find("\n", link.end(), end)
        words = list(_WORD.finditer(text, link.end(), stop if stop >= 0 else end))
        if len(words) >= 4:
            groups.setdefault(tuple(w[0] for w in words[:3]), []).append((link.start(), words))
    spans: list[Span] = []
    for members in groups.values():
        if len(members) < 3:
            continue
        shortest = min(len(words) for _, words in members)
        n = 3
        while n < shortest and len({words[n][0] for _, words in members}) == 1:
            n += 1
        if n < shortest:  # every caption goes on after the title
            spans.extend((at, words[n - 1].end()) for at, words in members)
    return spans


def _is_furniture_sentence(sentence: str, *, inline: bool = False) -> bool:
    """Whether a whole sentence is furniture. ``inline``: it follows text on its line, where a
    bare date or time belongs to that text ("... the Warriors still win. (Dec. 27, 1991)")."""
    sentence = sentence.strip()
    if _SPEECH.search(sentence):
        return False  # reported speech is news: '"Follow me on Threads," the author wrote.'
    if _SENTENCE_RULE.fullmatch(sentence):
        return True
    if _is_timestamp(sentence, labelled_or_zoned=inline):
        return True
    if _SHARE_PREFIX.fullmatch(sentence):
        return True
    if "contributed" in sentence and _CONTRIBUTED.fullmatch(sentence):
        return True
    if ("/" in sentence or len(sentence) <= 40) and _CREDIT_ONLY.fullmatch(sentence):
        return True
    # Contact lines of an author: "Reach Jane Doe at jdoe@paper.com", "Follow him on X @jdoe";
    # not a contact for readers ("... at info@county.gov for more information").
    if _FOR_READERS.search(sentence):
        return False
    return bool(_CONTACT.match(sentence)) and bool(
        _EMAIL.search(sentence)
        or re.search(r"\bon (?:Twitter|X|Facebook|Instagram|Threads|TikTok|Bluesky)\b", sentence)
    )


def entry_time(line: str) -> tuple[str, str] | None:
    """A live blog's entry time standing as a line: ``(stamp, rest)`` for "10:49 pm ET June 16,
    2026" or "10:49 pm ET June 16, 2026 Share this update" (rest: what follows the stamp), None
    for anything else. Labelled times ("Updated 5:23 p.m. ET ...") are a page's, not an entry's;
    a time of day is required ("June 16, 2026" alone dates the page), with a zone or a date."""
    match = _STAMP_RE.match(line.strip())
    if match is None or match["label"]:
        return None
    stamp = match["stamp"]
    # One time of day, with its zone or date: "10am – 3pm" is an event's hours, "3:15 p.m."
    # alone may be anything.
    if len(_HAS_CLOCK.findall(stamp)) != 1 or not (
        _HAS_TZ.search(stamp) or _HAS_DATE.search(stamp)
    ):
        return None
    rest = line.strip()[match.end() :].strip()
    if rest and not is_furniture(rest):
        return None
    return match["stamp"].strip(" ,|·•/("), rest


def _is_timestamp(sentence: str, *, labelled_or_zoned: bool = False) -> bool:
    """A sentence that is only a time: "10:49 pm ET June 16, 2026", "Updated 5:23 p.m. ET / Jane
    Doe", "(3:15 p.m.)"; with ``labelled_or_zoned``, only one with a label or a time zone."""
    match = _STAMP_RE.match(sentence.lstrip("("))
    if match is None:
        return False
    rest = sentence.lstrip("(")[match.end() :].strip()
    if rest and not re.fullmatch(rf"[.)]|(?:/|\||by|–|—|-)\s*(?:{_NAMES}|{_NAME})\.?", rest):
        return False
    stamp = match["stamp"]
    if match["label"]:
        return True
    if labelled_or_zoned:
        return bool(_HAS_TZ.search(stamp))
    return bool(
        _HAS_CLOCK.search(stamp)
        or _HAS_YEAR_DATE.search(stamp)
        or (_HAS_WEEKDAY.search(stamp) and _HAS_DATE.search(stamp))
    )


def _prefix(text: str, s: int, e: int) -> tuple[int | None, str]:
    """Where furniture glued in front of the sentence ``text[s:e]`` ends (separators included),
    or None when the sentence does not start with furniture; and whether it opens a live-blog
    entry ("entry": a timestamp or a share prompt) or not ("other")."""
    stamp = _STAMP_RE.match(text, s, e)
    if stamp is not None and _glued_stamp(stamp, e):
        return _after_separator(text, stamp.end(), e), "entry"
    for rule, kind in (
        (_SHARE_PREFIX, "entry"),
        (_CREDIT_PREFIX, "other"),
        (_BYLINE_PREFIX, "other"),
    ):
        match = rule.match(text, s, e)
        if match is not None and _followed_by_text(text, match.end(), e):
            return _after_separator(text, match.end(), e), kind
    return None, "other"


def _is_headline(text: str) -> bool:
    """An entry's headline before its byline: a few words, no sentence end."""
    return len(text.split()) >= 3 and not re.search(r"[.!?]\s", text)


def _glued_stamp(match: re.Match[str], e: int) -> bool:
    """A timestamp opens a live-blog entry when it is labelled ("Updated June 22"), a time of day
    with a zone or a dated year ("10:49 pm ET June 16, 2026"), or any time followed by a share
    prompt; and a separator or a capital follows it. A bare "11 p.m. Tuesday, Nov. 5: Will add
    ballots ..." is a schedule, and its time is the news."""
    stamp = match["stamp"]
    if not _followed_by_text(match.string, match.end(), e):
        return False
    if match["label"]:
        return bool(_HAS_CLOCK.search(stamp) or _HAS_DATE.search(stamp))
    if not _HAS_CLOCK.search(stamp):
        return False
    if _HAS_TZ.search(stamp) or _HAS_YEAR_DATE.search(stamp):
        return True
    after = _after_separator(match.string, match.end(), e)
    return bool(_SHARE_PREFIX.match(match.string, after, e))


def _followed_by_text(text: str, i: int, e: int) -> bool:
    """A separator (":", "|", a dash) or a capital after ``i``: furniture ends there."""
    rest = text[i:e]
    return bool(re.match(r"\s*[:|•·–—-]\s*\S|\s+[\"“‘'(]?[A-Z0-9]", rest))


def _after_separator(text: str, i: int, e: int) -> int:
    match = _SEPARATOR.match(text, i, e)
    return match.end() if match else i


def _piece(text: str, s: int, e: int) -> list[Span]:
    """What is left of a sentence beside furniture, if it has words: separators trimmed."""
    while s < e and (text[s].isspace() or text[s] in ":|•·–—,;"):
        s += 1
    while e > s and (text[e - 1].isspace() or text[e - 1] in ":|•·–—,;"):
        e -= 1
    return [(s, e)] if re.search(r"[^\W\d_]{2}", text[s:e]) else []


def _merge(text: str, spans: list[Span]) -> list[Span]:
    """Sorted, overlapping and touching spans joined, each trimmed of whitespace."""
    merged: list[Span] = []
    for s, e in sorted(spans):
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged
