"""Email as the desk writes and reads it (SPEC section 12). Pure: the standard library's
`email` package only.

Out: one multipart/alternative message (text + HTML) with a `Reply-To` that carries a
reply token, and `In-Reply-To`/`References` when it answers a customer's mail.

In: SES stores the raw message; `parse_mail` turns it into an `InboundMail` whatever it
holds (malformed MIME, unknown charsets, HTML only): it never raises on content, it
notes what it could not read instead.

The reply token names one ticket and is unguessable: `<ticket id>.<HMAC-SHA256 of it,
128 bits>` in lower case base32, so a mail system that lower-cases local parts keeps it
valid. Ticket ids are `T-` + a ULID (upper case Crockford), so lower-casing is reversible.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses
from html.parser import HTMLParser

import msgspec

REPLY_LOCAL_PREFIX = "reply+"
MAX_MAIL_BYTES = 10 * 1024 * 1024  # larger: triaged without its attachments (SPEC 12)
MAX_TEXT_CHARS = 5000  # a comment's and a description's limit (the rest is noted as cut)
MAX_REFERENCES = 20  # message ids looked up from In-Reply-To/References, newest first
# SES sets Message-ID to <SES message id>@<region.>amazonses.com
SES_MESSAGE_ID_DOMAIN = "amazonses.com"
_TOKEN_CONTEXT = b"servicedesk reply-token v1\x00"
_MAC_BYTES = 16
_TICKET_ID = re.compile(r"T-[0-9A-HJKMNP-TV-Z]{26}")
_TOKEN = re.compile(r"(t-[0-9a-hjkmnp-tv-z]{26})\.([a-z2-7]{26})")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")


# --- reply tokens -----------------------------------------------------------------------------


# What CPython's header parser raises on a malformed header: ValueError and friends, and
# AttributeError on a group inside a group (`From: a:b:c;;`, seen by the fuzz test).
_HEADER_ERRORS = (ValueError, IndexError, TypeError, LookupError, AttributeError)


def reply_token(key: bytes, ticket_id: str) -> str:
    """The token for one ticket: its id and a MAC of it (signed with the current key)."""
    return f"{ticket_id.lower()}.{_mac(key, ticket_id)}"


def reply_address(key: bytes, ticket_id: str, domain: str) -> str:
    return f"{REPLY_LOCAL_PREFIX}{reply_token(key, ticket_id)}@{domain}"


def ticket_of_token(keys: Sequence[bytes], token: str) -> str | None:
    """The ticket a token names, if one of the keys signed it; None for anything forged."""
    match = _TOKEN.fullmatch(token.strip().lower())
    if match is None:
        return None
    ticket_id = match.group(1).upper()
    if not _TICKET_ID.fullmatch(ticket_id):
        return None
    given = match.group(2)
    if any(hmac.compare_digest(_mac(key, ticket_id), given) for key in keys):
        return ticket_id
    return None


def token_in(addresses: Iterable[str], domain: str) -> str | None:
    """The reply token of the first address that is one (reply+<token>@<inbound domain>)."""
    for address in addresses:
        local, _, at = address.strip().rpartition("@")
        if at.lower() == domain.lower() and local.lower().startswith(REPLY_LOCAL_PREFIX):
            return local[len(REPLY_LOCAL_PREFIX) :]
    return None


def _mac(key: bytes, ticket_id: str) -> str:
    digest = hmac.new(key, _TOKEN_CONTEXT + ticket_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:_MAC_BYTES]).decode().rstrip("=").lower()


# --- out --------------------------------------------------------------------------------------


class OutgoingEmail(msgspec.Struct, frozen=True):
    sender: str
    to: str
    subject: str
    text: str
    html: str
    date: datetime
    reply_to: str | None = None
    in_reply_to: str | None = None  # a customer's Message-ID, angle brackets included
    references: tuple[str, ...] = ()


class MailThread(msgspec.Struct, frozen=True):
    """The headers that tie a desk email to its ticket's conversation."""

    reply_to: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


def build_mime(mail: OutgoingEmail) -> bytes:
    """The raw message for SES SendRawEmail: multipart/alternative, text then HTML."""
    from email.policy import SMTP  # see read_message

    message = EmailMessage(policy=SMTP)
    message["From"] = mail.sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.date)
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
        message["References"] = " ".join((*mail.references, mail.in_reply_to)[-MAX_REFERENCES:])
    message.set_content(mail.text, charset="utf-8")
    message.add_alternative(mail.html, subtype="html", charset="utf-8")
    return message.as_bytes()


# --- in ---------------------------------------------------------------------------------------


class Attachment(msgspec.Struct, frozen=True):
    filename: str
    content_type: str
    size: int


class InboundMail(msgspec.Struct, frozen=True):
    """What the desk reads from one received message (addresses lower-cased)."""

    message_id: str | None  # without angle brackets
    sender: str | None  # From's address; None when it has none we can read
    recipients: tuple[str, ...]
    subject: str
    text: str  # the new text: quotes removed
    references: tuple[str, ...]  # In-Reply-To then References, newest first, no brackets
    verdicts_pass: bool
    attachments: tuple[Attachment, ...] = ()
    notes: tuple[str, ...] = ()  # what could not be read, or was left out
    oversize: bool = False  # over MAX_MAIL_BYTES: triaged, never attached by itself

    def referenced_ses_ids(self) -> tuple[str, ...]:
        """The SES message ids among the references (their local parts)."""
        found = []
        for reference in self.references:
            local, _, domain = reference.rpartition("@")
            if local and domain.lower().endswith(SES_MESSAGE_ID_DOMAIN):
                found.append(local)
        return tuple(found)


def read_message(raw: bytes) -> EmailMessage:
    """The raw message with the modern policy (header objects, `get_content`)."""
    # email.policy and its header parser cost ~3 ms to import, which only the mail paths
    # should pay, not every cold start (CPython's own EmailMessage defers it the same way).
    from email.policy import default

    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def parse_mail(raw: bytes, *, oversize: bool = False) -> InboundMail:
    """Read a raw message as SES stored it. `oversize`: over MAX_MAIL_BYTES, so no
    attachment is kept (noted). Never raises on what the message contains."""
    message = read_message(raw)
    notes: list[str] = []
    if message.defects or _any_part_defects(message):
        notes.append("malformed_mime")
    text, attachments = _body(message, notes)
    if oversize:
        notes.append("oversize_attachments_dropped")
        attachments = []
    stripped = strip_quotes(text)
    if len(stripped) > MAX_TEXT_CHARS:
        stripped = stripped[:MAX_TEXT_CHARS]
        notes.append("text_cut")
    sender = _sender(message)
    return InboundMail(
        message_id=_first_id(_header(message, "Message-ID")),
        sender=sender,
        recipients=_recipients(message),
        subject=_header(message, "Subject")[:200],
        text=stripped,
        references=_references(message),
        verdicts_pass=verdicts_pass(message, sender),
        attachments=tuple(attachments),
        notes=tuple(dict.fromkeys(notes)),
        oversize=oversize,
    )


def _any_part_defects(message: Message) -> bool:
    return any(part.defects for part in message.walk())


def _header(message: Message, name: str) -> str:
    """A header's text, first occurrence; '' when absent or unreadable."""
    try:
        value = message.get(name)
    except _HEADER_ERRORS:
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _first_header(message: Message, name: str) -> str:
    """The first occurrence: SES prepends its own headers, so a sender's forged copy
    further down is never the one read."""
    try:
        values = message.get_all(name) or []
    except _HEADER_ERRORS:
        return ""
    return str(values[0]) if values else ""


def _addresses(message: Message, *names: str) -> list[str]:
    raw_values: list[str] = []
    for name in names:
        try:
            raw_values.extend(str(value) for value in message.get_all(name) or [])
        except _HEADER_ERRORS:
            continue
    return [address.lower() for _, address in getaddresses(raw_values) if "@" in address]


def _sender(message: Message) -> str | None:
    found = _addresses(message, "From")
    return found[0] if len(found) == 1 else None  # several From addresses: no one sender


def _recipients(message: Message) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_addresses(message, "To", "Cc", "Delivered-To", "X-Original-To")))


def _first_id(value: str) -> str | None:
    match = _MESSAGE_ID.search(value)
    return match.group(1) if match else None


def _references(message: Message) -> tuple[str, ...]:
    in_reply_to = _MESSAGE_ID.findall(_header(message, "In-Reply-To"))
    references = _MESSAGE_ID.findall(_header(message, "References"))
    ordered = [*in_reply_to, *reversed(references)]  # References lists oldest first
    return tuple(dict.fromkeys(ordered))[:MAX_REFERENCES]


def verdicts_pass(message: Message, sender: str | None) -> bool:
    """SES's spam and virus verdicts PASS, and its Authentication-Results show that the
    `From` address's domain sent it (see `authenticated`). Missing headers fail."""
    spam = _first_header(message, "X-SES-Spam-Verdict").strip().upper()
    virus = _first_header(message, "X-SES-Virus-Verdict").strip().upper()
    results = _first_raw_header(message, "Authentication-Results")
    domain = sender.rpartition("@")[2] if sender else ""
    return spam == "PASS" and virus == "PASS" and authenticated(results, domain)


def _first_raw_header(message: Message, name: str) -> str:
    """The first occurrence as written: the modern policy decodes RFC 2047 words in an
    unstructured header, and SES quotes the sender-chosen envelope address in its
    Authentication-Results, so `=?us-ascii?q?=3B_dmarc=3Dpass?=` there must stay text."""
    for header, value in message.raw_items():
        if header.lower() == name.lower():
            return str(value)
    return ""


# --- Authentication-Results (RFC 8601, as SES writes it) ----------------------------------

SES_AUTHSERV_ID = "amazonses.com"
# Methods SES reports once per message: a second one was written by someone else.
_ONCE = ("spf", "dmarc")
# SES writes the SPF check's details as entries of their own after `spf=...` (not as
# `smtp.mailfrom` properties): `client-ip=...; envelope-from=...; helo=...;`.
_SES_SPF_ENTRIES = frozenset({"client-ip", "envelope-from", "helo"})
_MAIL_FROM_KEYS = frozenset({"smtp.mailfrom", "envelope-from"})
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")


class AuthResult(msgspec.Struct, frozen=True):
    """One `method=result` of an Authentication-Results header, with its properties
    (`header.from`, `smtp.mailfrom`... and SES's own `envelope-from`), values as written."""

    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()

    def values(self, *names: str) -> list[str]:
        return [value for name, value in self.properties if name in names]


class AuthResults(msgspec.Struct, frozen=True):
    authserv_id: str
    results: tuple[AuthResult, ...]

    def of(self, method: str) -> list[AuthResult]:
        return [result for result in self.results if result.method == method]


def parse_authentication_results(value: str) -> AuthResults | None:
    """The header's authserv-id and results; None when it cannot be read (an unclosed
    quote or comment, a stray `)`, no authserv-id). Comments are dropped and quoted
    strings kept whole, so neither is ever read as a result; names are lower-cased,
    values kept as written."""
    segments = _segments(value)
    if segments is None or not segments[0]:
        return None
    authserv_id = segments[0][0].lower()
    results: list[AuthResult] = []
    for words in segments[1:]:
        pairs = _pairs(words)
        if not pairs:
            continue  # `none`, or nothing between two `;`
        (method, result), properties = pairs[0], tuple(pairs[1:])
        method = method.partition("/")[0]  # method/version
        if method in _SES_SPF_ENTRIES and results and results[-1].method == "spf":
            spf = results[-1]
            results[-1] = AuthResult(spf.method, spf.result, (*spf.properties, pairs[0]))
            continue
        results.append(AuthResult(method, result.lower(), properties))
    return AuthResults(authserv_id, tuple(results))


class _Scanner:
    """Splits a header into `;`-separated segments of words: comments (nested, with
    quoted pairs) are whitespace, quoted strings stay whole inside their word."""

    def __init__(self) -> None:
        self.segments: list[list[str]] = [[]]
        self.word: list[str] = []
        self.depth = 0  # inside a comment
        self.quoted = False
        self.escaped = False
        self.broken = False

    def feed(self, char: str) -> None:
        if self.escaped:
            self.escaped = False
            if self.quoted:
                self.word.append(char)
        elif char == "\\" and (self.quoted or self.depth):
            self.escaped = True
            if self.quoted:
                self.word.append(char)
        elif self.quoted:
            self.word.append(char)
            self.quoted = char != '"'
        elif self.depth:
            self.depth += {"(": 1, ")": -1}.get(char, 0)
        else:
            self._outside(char)

    def _outside(self, char: str) -> None:
        if char in "();" or char.isspace():
            self.end_word()
            self.depth = 1 if char == "(" else 0
            self.broken = self.broken or char == ")"
            if char == ";":
                self.segments.append([])
            return
        self.word.append(char)
        self.quoted = char == '"'

    def end_word(self) -> None:
        if self.word:
            self.segments[-1].append("".join(self.word))
            self.word = []


def _segments(value: str) -> list[list[str]] | None:
    scanner = _Scanner()
    for char in value:
        scanner.feed(char)
    scanner.end_word()
    if scanner.broken or scanner.quoted or scanner.depth or scanner.escaped:
        return None
    return scanner.segments


def _pairs(words: list[str]) -> list[tuple[str, str]]:
    """`name=value` words, names lower-cased; `a = b` (CFWS around `=`) joined first.
    A word with no `=` (a bare `none`, a stray token) is no pair."""
    joined: list[str] = []
    for word in words:
        if joined and (joined[-1].endswith("=") or word.startswith("=")):
            joined[-1] += word
        else:
            joined.append(word)
    pairs = []
    for word in joined:
        name, equals, value = word.partition("=")
        if equals and name and '"' not in name:
            pairs.append((name.lower(), value))
    return pairs


def address_domain(address: str) -> str | None:
    """The domain after the LAST `@` outside quotes (`"x@a"@b` is b's), or the whole
    value when it is a bare domain; None for anything that is not a domain name."""
    quoted, at = False, -1
    for index, char in enumerate(address):
        if char == '"':
            quoted = not quoted
        elif char == "@" and not quoted:
            at = index
    domain = _ascii_domain(address[at + 1 :])
    return domain if _DOMAIN.fullmatch(domain) else None


def _ascii_domain(domain: str) -> str:
    """Lower case, no final dot, IDNA A-labels (SES writes those; a From may not)."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def authenticated(results: str, from_domain: str) -> bool:
    """SES (authserv-id `amazonses.com`) says DMARC passed for the `From` domain itself;
    or, where the domain publishes no DMARC policy (dmarc=none, or no dmarc result), SPF
    or DKIM passed for the `From` domain (aligned, relaxed: a parent or subdomain counts),
    so a sender cannot pass with another domain's SPF and a forged `From`. Any other DMARC
    result, or a method SES reports once appearing twice, fails."""
    parsed = parse_authentication_results(results)
    domain = _ascii_domain(from_domain)
    if parsed is None or parsed.authserv_id != SES_AUTHSERV_ID or not domain:
        return False  # not the result SES's receiving servers wrote, or no sender
    if any(len(parsed.of(method)) > 1 for method in _ONCE):
        return False
    dmarc = parsed.of("dmarc")
    if dmarc and dmarc[0].result != "none":
        evaluated = [address_domain(value) for value in dmarc[0].values("header.from")]
        return dmarc[0].result == "pass" and evaluated == [domain]
    return any(_aligned(passed, domain) for passed in _passed_domains(parsed))


def _passed_domains(parsed: AuthResults) -> list[str]:
    """The domains SPF (its one MAIL FROM) and DKIM (each signature) passed for."""
    found = []
    for dkim in parsed.of("dkim"):
        if dkim.result == "pass":
            found += [address_domain(value) for value in dkim.values("header.d", "header.i")]
    spf = parsed.of("spf")
    mail_from = spf[0].values(*_MAIL_FROM_KEYS) if spf and spf[0].result == "pass" else []
    if len(set(mail_from)) == 1:  # two different envelope senders: not SES's own words
        found.append(address_domain(mail_from[0]))
    return [domain for domain in found if domain]


def _aligned(one: str, other: str) -> bool:
    one, other = one.strip("."), other.strip(".")
    return one == other or one.endswith("." + other) or other.endswith("." + one)


def payloads(raw: bytes) -> list[bytes]:
    """The decoded bytes of each attachment of a raw message, in the order parse_mail
    lists them (the documents made from an email read them again from its stored copy)."""
    message = read_message(raw)
    found = []
    for part in _leaf_parts(message):
        if _is_attachment(part):
            payload = part.get_payload(decode=True)
            found.append(payload if isinstance(payload, bytes) else b"")
    return found


def _body(message: Message, notes: list[str]) -> tuple[str, list[Attachment]]:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in _leaf_parts(message):
        kind = part.get_content_type()
        if _is_attachment(part):
            attachments.append(_attachment(part))
        elif kind == "text/plain" and plain is None:
            plain = _part_text(part, notes)
        elif kind == "text/html" and html is None:
            html = _part_text(part, notes)
    if plain is not None and plain.strip():
        return plain, attachments
    if html is not None:
        notes.append("html_converted")
        return html_to_text(html), attachments
    return plain or "", attachments


def _leaf_parts(message: Message) -> list[Message]:
    try:
        return [part for part in message.walk() if not part.is_multipart()]
    except _HEADER_ERRORS:
        return [message]


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except _HEADER_ERRORS:
        disposition = None
    if disposition == "attachment":
        return True
    return part.get_content_maintype() not in ("text", "multipart", "message")


def _attachment(part: Message) -> Attachment:
    try:
        filename = part.get_filename() or "attachment"
    except _HEADER_ERRORS:
        filename = "attachment"
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else 0
    return Attachment(filename[:200], part.get_content_type(), size)


def _part_text(part: Message, notes: list[str]) -> str:
    """The part decoded by its charset; an unknown or wrong charset is read as UTF-8 with
    replacement characters (noted), never an error."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else str(payload or "").encode()
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        notes.append("undecodable_text")
    except (LookupError, ValueError):  # no such codec, or a name no codec can have ("\x00")
        notes.append("unknown_charset")
    return data.decode("utf-8", errors="replace")


# --- quotes and HTML --------------------------------------------------------------------------

_QUOTE_HEADERS = (
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^发件人\s*[:：]"),
    re.compile(r"^在.+写道\s*[:：]\s*$"),
)
_ON_WROTE = re.compile(r"^On\s.+wrote:\s*$", re.IGNORECASE | re.DOTALL)


def strip_quotes(text: str) -> str:
    """The new text of a reply: lines starting `>` go, and everything from an
    `On ... wrote:`, `-----Original Message-----` or `发件人:` line on."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _starts_quoted_block(line, lines[index + 1] if index + 1 < len(lines) else ""):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _starts_quoted_block(line: str, following: str) -> bool:
    stripped = line.strip()
    if _ON_WROTE.match(stripped):
        return True
    # Clients wrap a long attribution: "On Mon, 1 Dec 2026 at 10:00, The Bank <x@y>" / "wrote:"
    if stripped.lower().startswith("on ") and following.strip().lower() == "wrote:":
        return True
    return any(pattern.match(stripped) for pattern in _QUOTE_HEADERS)


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "hr"})
    _SKIPPED = frozenset({"script", "style", "head", "title", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(" ".join(data.split(" ")))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (blockquotes, scripts and styles left out)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (ValueError, AssertionError):
        pass  # what was read so far stands
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def plain_address(address: str) -> str:
    """The bare address of `Name <addr>` (lower case)."""
    found = getaddresses([address])
    return found[0][1].lower() if found and found[0][1] else address.strip().lower()
