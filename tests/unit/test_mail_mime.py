"""Email as the desk writes and reads it: MIME, reply tokens, quotes, verdicts (SPEC 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.domain.mail import (
    OutgoingEmail,
    authenticated,
    build_mime,
    html_to_text,
    parse_mail,
    reply_address,
    reply_token,
    strip_quotes,
    ticket_of_token,
    token_in,
)

KEY, OLD_KEY, OTHER_KEY = b"k" * 32, b"o" * 32, b"x" * 32
TICKET = "T-01JABCDEFGHJKMNPQRSTVWXYZ0"
PASS = (
    "X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
    "Authentication-Results: amazonses.com; spf=pass smtp.mailfrom=a; dkim=pass header.i=a;"
    " dmarc=pass header.from=example.com\r\n"
)


def _raw(body: str, headers: str = "", verdicts: str = PASS) -> bytes:
    return (
        f"{verdicts}From: Ann <Ann@Example.com>\r\nTo: reply+x@reply.example\r\n"
        f"Subject: Re: your card\r\nMessage-ID: <m1@example.com>\r\n{headers}\r\n{body}"
    ).encode()


def test_token_names_one_ticket_and_survives_lower_casing():
    token = reply_token(KEY, TICKET)
    assert ticket_of_token([KEY], token) == TICKET
    assert ticket_of_token([KEY], token.upper()) == TICKET
    assert len(f"reply+{token}") <= 64  # an email local part's limit


def test_forged_tokens_name_no_ticket():
    token = reply_token(KEY, TICKET)
    other_ticket = "T-01JABCDEFGHJKMNPQRSTVWXYZ1"
    forged_for_other = f"{other_ticket.lower()}.{token.split('.')[1]}"
    assert ticket_of_token([KEY], forged_for_other) is None
    assert ticket_of_token([OTHER_KEY], token) is None
    assert ticket_of_token([KEY], token[:-1] + ("a" if token[-1] != "a" else "b")) is None
    for junk in ("", "t-", "nonsense", token + "x", "../" + token):
        assert ticket_of_token([KEY], junk) is None


def test_previous_key_still_verifies_after_rotation():
    assert ticket_of_token([KEY, OLD_KEY], reply_token(OLD_KEY, TICKET)) == TICKET


def test_token_only_at_the_inbound_domain():
    address = reply_address(KEY, TICKET, "reply.example")
    token = reply_token(KEY, TICKET)
    assert token_in(["someone@x.com", address.upper()], "reply.example") == token.upper()
    assert token_in([address.replace("reply.example", "evil.example")], "reply.example") is None


def test_outgoing_mail_is_multipart_with_reply_to_and_thread_headers():
    raw = build_mime(
        OutgoingEmail(
            sender="desk@bank.example",
            to="ann@example.com",
            subject="您的工单 SD-1",
            text="Hello 你好",
            html="<p>Hello 你好</p>",
            date=datetime(2026, 12, 6, tzinfo=UTC),
            reply_to="reply+tok@reply.example",
            in_reply_to="<m2@example.com>",
            references=("<m1@example.com>",),
        )
    )
    message = message_from_bytes(raw, policy=default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Reply-To"] == "reply+tok@reply.example"
    assert message["In-Reply-To"] == "<m2@example.com>"
    assert message["References"] == "<m1@example.com> <m2@example.com>"
    assert message["Subject"] == "您的工单 SD-1"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    plain = message.get_body(("plain",))
    assert plain is not None and "你好" in plain.get_content()


def test_no_thread_headers_on_a_first_mail():
    raw = build_mime(
        OutgoingEmail("d@b.example", "a@e.com", "s", "t", "<p>t</p>", datetime.now(UTC))
    )
    message = message_from_bytes(raw, policy=default)
    assert message["In-Reply-To"] is None and message["References"] is None


def test_quotes_are_stripped():
    text = (
        "Thanks, the card works now.\n\n> old line\nOn Mon, 1 Dec 2026, Bank <d@b> wrote:\n"
        "> quoted\nmore quoted"
    )
    assert strip_quotes(text) == "Thanks, the card works now."
    assert strip_quotes("Yes\n-----Original Message-----\nFrom: desk") == "Yes"
    assert strip_quotes("好的\n发件人: 银行\n内容") == "好的"
    assert strip_quotes("好的\n发件人：银行") == "好的"
    wrapped = "Fine\nOn Mon, 1 Dec 2026 at 10:00, The Bank <desk@bank.example>\nwrote:\n> x"
    assert strip_quotes(wrapped) == "Fine"
    assert strip_quotes("Only a > sign inside stays") == "Only a > sign inside stays"


def test_a_verified_looking_mail_parses():
    mail = parse_mail(
        _raw("New text\r\n> quoted\r\n", "In-Reply-To: <abc@email.amazonses.com>\r\n")
    )
    assert mail.sender == "ann@example.com"
    assert mail.text == "New text"
    assert mail.verdicts_pass
    assert mail.message_id == "m1@example.com"
    assert mail.referenced_ses_ids() == ("abc",)


def test_verdicts_fail_or_are_missing():
    failing = PASS.replace("Spam-Verdict: PASS", "Spam-Verdict: FAIL")
    assert not parse_mail(_raw("x", verdicts=failing)).verdicts_pass
    assert not parse_mail(_raw("x", verdicts="")).verdicts_pass
    dmarc = PASS.replace("dmarc=pass", "dmarc=fail")
    assert not parse_mail(_raw("x", verdicts=dmarc)).verdicts_pass


def test_without_dmarc_only_spf_or_dkim_of_the_from_domain_counts():
    other = (
        "amazonses.com; spf=pass envelope-from=eve@evil.example; dkim=pass header.i=@evil.example"
    )
    assert not authenticated(other, "example.com")
    assert not authenticated(other + "; dmarc=none header.from=example.com", "example.com")
    own = "amazonses.com; spf=fail envelope-from=a@x.y; dkim=pass header.i=@mail.example.com"
    assert authenticated(own, "example.com")
    assert authenticated("amazonses.com; spf=pass smtp.mailfrom=a@example.com", "example.com")
    ses_style = (
        "amazonses.com; spf=pass (spfCheck: domain of example.com designates 1.2.3.4 as"
        " permitted sender) client-ip=1.2.3.4; envelope-from=ann@example.com; helo=mx;"
        " dkim=none; dmarc=none header.from=example.com;"
    )
    assert authenticated(ses_style, "example.com")
    assert not authenticated(ses_style, "other.example")
    assert not authenticated(
        "amazonses.com; dmarc=fail; spf=pass smtp.mailfrom=a@example.com", "example.com"
    )
    assert not authenticated("mx.evil.example; dmarc=pass", "example.com")
    assert authenticated("amazonses.com; dmarc=pass header.from=example.com", "example.com")


def test_a_senders_own_verdict_headers_below_seses_do_not_count():
    forged = PASS.replace("Spam-Verdict: PASS", "Spam-Verdict: FAIL") + PASS
    assert not parse_mail(_raw("x", verdicts=forged)).verdicts_pass


# SES's own words (docs' and received samples'): spf with its comment, then its own
# `client-ip`, `envelope-from` and `helo` entries, dkim, dmarc with header.from.
SES_GMAIL = (
    "amazonses.com; spf=pass (spfCheck: domain of _spf.google.com designates 209.85.218.42 as"
    " permitted sender) client-ip=209.85.218.42; envelope-from=ann@gmail.com;"
    " helo=mail-ej1-f42.google.com; dkim=pass header.i=@gmail.com; dmarc=pass"
    " header.from=gmail.com;"
)
SES_NO_DMARC_POLICY = (
    "amazonses.com; spf=pass (spfCheck: domain of example.com designates 203.0.113.0 as"
    " permitted sender) client-ip=203.0.113.0; envelope-from=prvs=144d0cba42=ann@example.com;"
    " helo=smtp.example.com; dkim=none; dmarc=none header.from=example.com;"
)


def _ses(envelope_from: str, dmarc: str = "dmarc=fail header.from=victim.example") -> str:
    """The header SES writes for a message whose envelope sender the attacker chose."""
    return (
        "amazonses.com; spf=pass (spfCheck: domain of attacker.example designates 192.0.2.1 as"
        f" permitted sender) client-ip=192.0.2.1; envelope-from={envelope_from};"
        f" helo=mx.attacker.example; dkim=none; {dmarc};"
    )


def _from_victim(results: str) -> bytes:
    verdicts = (
        "X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
        f"Authentication-Results: {results}\r\n"
    )
    return (
        f"{verdicts}From: Victim <victim@victim.example>\r\nTo: reply+x@reply.example\r\n"
        "Subject: Re: your card\r\n\r\nforged"
    ).encode()


def test_what_ses_writes_for_real_senders_passes():
    assert authenticated(SES_GMAIL, "gmail.com")
    assert authenticated(SES_GMAIL, "GMail.COM")
    assert not authenticated(SES_GMAIL, "example.com")
    assert authenticated(SES_NO_DMARC_POLICY, "example.com")  # SPF of the From domain itself
    assert not authenticated(SES_NO_DMARC_POLICY, "other.example")


def test_a_dmarc_pass_in_the_envelope_address_is_no_verdict():
    # Review M1: MAIL FROM:<dmarc=pass@attacker.example>, From: victim, DMARC failed.
    forged = _ses("dmarc=pass@attacker.example")
    assert not authenticated(forged, "victim.example")
    assert not parse_mail(_from_victim(forged)).verdicts_pass


def test_the_spf_domain_is_after_the_last_at_of_the_envelope_address():
    # Review M1: "x@victim.example"@attacker.example passes SPF for attacker.example only.
    quoted = _ses('"x@victim.example"@attacker.example', "dmarc=none header.from=victim.example")
    assert not authenticated(quoted, "victim.example")
    assert authenticated(quoted, "attacker.example")  # what it did pass for
    assert not parse_mail(_from_victim(quoted)).verdicts_pass
    for envelope in ("x@victim.example@attacker.example", "a@victim.example.attacker.example"):
        no_policy = _ses(envelope, "dmarc=none header.from=victim.example")
        assert not authenticated(no_policy, "victim.example")


def test_quoted_strings_and_comments_are_never_read_as_results():
    quoted = _ses('"a; dmarc=pass header.from=victim.example; b"@attacker.example')
    assert not authenticated(quoted, "victim.example")
    in_quotes = _ses('"a; dkim=pass header.d=victim.example"@attacker.example', "dmarc=none")
    assert not authenticated(in_quotes, "victim.example")
    comment = (
        "amazonses.com; spf=fail (dmarc=pass header.from=victim.example; spf=pass"
        " smtp.mailfrom=a@victim.example) smtp.mailfrom=a@attacker.example;"
        " dmarc=none (a comment (nested; dkim=pass header.d=victim.example)) header.from=x"
    )
    assert not authenticated(comment, "victim.example")
    unclosed = "amazonses.com; dmarc=pass header.from=victim.example (no end"
    assert not authenticated(unclosed, "victim.example")


def test_encoded_words_in_the_envelope_address_are_not_decoded_into_results():
    # The email package decodes RFC 2047 words in an unstructured header; SES's header
    # is read as it was written.
    word = "=?us-ascii?q?a=3B_dmarc=3Dpass_header.from=3Dvictim.example=3B?="
    forged = _ses(f"{word}@attacker.example", "dmarc=none header.from=victim.example")
    assert not parse_mail(_from_victim(forged)).verdicts_pass


def test_only_ses_as_authserv_id_and_its_own_from_domain_count():
    assert not authenticated(
        "amazonses.com.attacker.example; dmarc=pass header.from=victim.example", "victim.example"
    )
    assert not authenticated("mx.attacker.example; dmarc=pass", "victim.example")
    # DMARC passed for the domain SES read in From, which must be the one we read.
    assert not authenticated(
        "amazonses.com; dmarc=pass header.from=attacker.example", "victim.example"
    )
    assert not authenticated("amazonses.com; dmarc=pass", "victim.example")
    assert authenticated("AmazonSES.com; DMARC=Pass header.from=Victim.Example", "victim.example")


def test_a_method_ses_reports_once_that_appears_twice_is_no_verdict():
    twice = (
        "amazonses.com; spf=pass smtp.mailfrom=a@victim.example; dmarc=pass"
        " header.from=victim.example; dmarc=fail header.from=victim.example"
    )
    assert not authenticated(twice, "victim.example")
    spf_twice = (
        "amazonses.com; spf=pass smtp.mailfrom=a@victim.example; spf=fail"
        " smtp.mailfrom=a@victim.example; dmarc=none header.from=victim.example"
    )
    assert not authenticated(spf_twice, "victim.example")


def test_a_senders_own_authentication_results_below_seses_do_not_count():
    below = f"{_ses('a@attacker.example')}\r\nAuthentication-Results: {SES_GMAIL}"
    assert not parse_mail(_from_victim(below)).verdicts_pass


def test_html_only_mail_becomes_text_without_its_blockquote():
    html = "Content-Type: text/html; charset=utf-8\r\n"
    body = (
        "<div>Please <b>call</b> me</div><blockquote>old desk mail</blockquote><script>x</script>"
    )
    mail = parse_mail(_raw(body, html))
    assert mail.text == "Please call me"
    assert "html_converted" in mail.notes
    assert html_to_text("<p>a</p><p>b &amp; c</p>") == "a\n\nb & c"


def test_unknown_charset_is_read_as_utf8_and_noted():
    mail = parse_mail(_raw("caf\u00e9", "Content-Type: text/plain; charset=x-klingon\r\n"))
    assert mail.text == "café"
    assert "unknown_charset" in mail.notes


def test_a_charset_name_no_codec_can_have_is_read_as_utf8_and_noted():
    # Found by the property test below: codecs raise ValueError, not LookupError, here.
    mail = parse_mail(_raw("caf\u00e9", 'Content-Type: text/plain; charset="utf\x008"\r\n'))
    assert mail.text == "café"
    assert "unknown_charset" in mail.notes


def test_malformed_mime_never_raises():
    broken = 'Content-Type: multipart/mixed; boundary="zzz"\r\n'
    mail = parse_mail(_raw("--zzz\r\nContent-Type: text/plain\r\n\r\nhello\r\n(no end)", broken))
    assert "malformed_mime" in mail.notes
    for garbage in (b"", b"\x00\xff\xfe", b"From: <<<@@@>>>\r\n\r\n", b"Subject: =?bad?=\r\n\r\nx"):
        parsed = parse_mail(garbage)
        assert not parsed.verdicts_pass


def test_oversize_mail_keeps_its_text_but_no_attachments():
    raw = _raw(
        "--b\r\nContent-Type: text/plain\r\n\r\nSee file\r\n--b\r\n"
        "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n',
    )
    normal = parse_mail(raw)
    assert [a.filename for a in normal.attachments] == ["a.pdf"]
    assert normal.attachments[0].content_type == "application/pdf"
    huge = parse_mail(raw, oversize=True)
    assert huge.text == "See file" and huge.attachments == ()
    assert "oversize_attachments_dropped" in huge.notes


def test_several_from_addresses_name_no_sender():
    raw = _raw("x").replace(b"From: Ann <Ann@Example.com>", b"From: a@x.com, b@y.com")
    assert parse_mail(raw).sender is None


_HEADERS = st.sampled_from(
    [
        "Content-Type: multipart/mixed; boundary=",
        "Content-Type: text/plain; charset=",
        "Content-Type: text/html; charset*=",
        "Content-Transfer-Encoding: base64",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Disposition: attachment; filename*=",
        "From: ",
        "To: ",
        "Subject: =?utf-8?b?",
        "In-Reply-To: <",
        "X-SES-Spam-Verdict: ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_HEADERS, st.text(max_size=30)), max_size=8),
    st.binary(max_size=300),
)
@example(headers=[("From: ", "a:b:c;;")], body=b"hi")  # a group in a group: AttributeError
def test_no_message_makes_the_parser_raise(headers, body):
    raw = "".join(f"{name}{value}\r\n" for name, value in headers).encode("utf-8", "replace")
    mail = parse_mail(raw + b"\r\n" + body)
    assert isinstance(mail.text, str)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ['"', "(", ")", ";", "=", "@", "\\", " ", "dmarc=pass", "amazonses.com"]
            ),
            st.text(max_size=12),
        ),
        max_size=20,
    ),
    st.text(max_size=20),
)
def test_no_authentication_results_make_the_check_raise(pieces, domain):
    header = "amazonses.com; " + "".join(pieces)
    assert authenticated(header, domain) in (True, False)
