"""The survey's HTML pages: small, mobile-first, accessible, no JavaScript.

Every value shown is escaped; the pages name nothing about the customer but the
ticket's subject.
"""

from __future__ import annotations

from html import escape

import msgspec

from chalicelib.domain.errors import FieldError
from chalicelib.domain.notifications import EN_US, ZH_CN


class Words(msgspec.Struct, frozen=True):
    title: str
    intro: str
    legend: str
    scores: tuple[str, str, str, str, str]
    comment: str
    comment_hint: str
    submit: str
    thanks_title: str
    thanks: str
    recovery: str
    answered_title: str
    answered: str
    closed_title: str
    closed: str
    not_found_title: str
    not_found: str
    invalid_title: str
    invalid: dict[str, str]
    bank: str


WORDS: dict[str, Words] = {
    ZH_CN: Words(
        title="服务满意度评价",
        intro="关于您的服务单：",
        legend="您对本次服务满意吗？",
        scores=("1 非常不满意", "2 不满意", "3 一般", "4 满意", "5 非常满意"),
        comment="意见或建议（选填）",
        comment_hint="最多 1000 字",
        submit="提交评价",
        thanks_title="感谢您的评价",
        thanks="我们已收到您的评价。",
        recovery="很抱歉本次服务未能让您满意，专人将尽快与您联系。",
        answered_title="已评价",
        answered="这份评价已经提交过了，感谢您的反馈。",
        closed_title="评价已结束",
        closed="这份评价已经结束，无法再提交。",
        not_found_title="找不到这份评价",
        not_found="链接可能不完整，请检查短信中的链接。",
        invalid_title="请检查您的填写",
        invalid={
            "score": "请选择 1 到 5 分中的一项。",
            "comment": "意见或建议最多 1000 字。",
            "body": "提交的内容无法识别，请重新填写。",
        },
        bank="XX银行客户服务中心",
    ),
    EN_US: Words(
        title="How did we do?",
        intro="About your request:",
        legend="How satisfied are you with our service?",
        scores=(
            "1 Very dissatisfied",
            "2 Dissatisfied",
            "3 Neutral",
            "4 Satisfied",
            "5 Very satisfied",
        ),
        comment="Anything you would like to tell us (optional)",
        comment_hint="Up to 1,000 characters",
        submit="Send my rating",
        thanks_title="Thank you for your feedback",
        thanks="We have received your rating.",
        recovery="We are sorry we let you down. A member of our team will contact you soon.",
        answered_title="Already answered",
        answered="This survey has already been answered. Thank you for your feedback.",
        closed_title="This survey has closed",
        closed="This survey has ended and can no longer be answered.",
        not_found_title="Survey not found",
        not_found="The link may be incomplete. Please check the link in your message.",
        invalid_title="Please check your answer",
        invalid={
            "score": "Choose a score from 1 to 5.",
            "comment": "The comment can be at most 1,000 characters.",
            "body": "We could not read the form. Please fill it in again.",
        },
        bank="XX Bank Customer Service",
    ),
}

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
color:#1a1a1a;background:#f4f5f7}
main{max-width:34rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.375rem;margin:.5rem 0 1rem}
.subject{background:#fff;border-left:4px solid #0b5cad;padding:.75rem 1rem;margin:0 0 1.25rem}
fieldset{border:0;padding:0;margin:0 0 1.25rem}
legend{font-weight:600;margin-bottom:.5rem}
.score{display:flex;align-items:center;gap:.75rem;background:#fff;border:1px solid #c9ccd1;
border-radius:.5rem;padding:.75rem 1rem;margin:.5rem 0;min-height:3rem}
.score input{width:1.375rem;height:1.375rem;margin:0}
label[for=comment]{display:block;font-weight:600;margin-bottom:.25rem}
textarea{width:100%;min-height:6rem;font:inherit;padding:.5rem;border:1px solid #8a8f98;
border-radius:.5rem}
.hint{color:#4a4f57;font-size:.9375rem;margin:.25rem 0 1.25rem}
button{width:100%;min-height:3rem;font:inherit;font-weight:600;color:#fff;background:#0b5cad;
border:0;border-radius:.5rem}
button:focus,input:focus,textarea:focus{outline:3px solid #f0a500;outline-offset:2px}
.errors{background:#fdecea;border:2px solid #b3261e;border-radius:.5rem;padding:.75rem 1rem;
margin:0 0 1.25rem}
.errors a{color:#b3261e}
footer{color:#4a4f57;font-size:.875rem;margin-top:2rem}
"""


def words(locale: str) -> Words:
    return WORDS.get(locale, WORDS[ZH_CN])


def _page(locale: str, title: str, body: str) -> str:
    w = words(locale)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(locale)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)} - {escape(w.bank)}</title>\n<style>{_STYLE}</style>\n"
        f"</head>\n<body>\n<main>\n{body}\n<footer>{escape(w.bank)}</footer>\n</main>\n"
        "</body>\n</html>\n"
    )


def form_page(
    locale: str,
    subject: str,
    errors: list[FieldError] | None = None,
    score: str | None = None,
    comment: str | None = None,
) -> str:
    """The question: five labelled radio buttons, an optional comment, one button."""
    w = words(locale)
    parts = [f"<h1>{escape(w.title)}</h1>"]
    if errors:
        items = "".join(
            f'<li><a href="#{"score-1" if error.path == "score" else "comment"}">'
            f"{escape(w.invalid.get(error.path, w.invalid['body']))}</a></li>"
            for error in errors
        )
        parts.append(
            f'<div class="errors" role="alert" tabindex="-1"><h2>{escape(w.invalid_title)}</h2>'
            f"<ul>{items}</ul></div>"
        )
    parts.append(f'<p class="subject">{escape(w.intro)}<br><strong>{escape(subject)}</strong></p>')
    radios = "".join(
        f'<div class="score"><input type="radio" id="score-{n}" name="score" value="{n}" required'
        f"{' checked' if score == str(n) else ''}>"
        f'<label for="score-{n}">{escape(label)}</label></div>'
        for n, label in enumerate(w.scores, start=1)
    )
    parts.append(
        '<form method="post" accept-charset="utf-8">'
        f"<fieldset><legend>{escape(w.legend)}</legend>{radios}</fieldset>"
        f'<label for="comment">{escape(w.comment)}</label>'
        '<textarea id="comment" name="comment" maxlength="1000" '
        f'aria-describedby="comment-hint">{escape(comment or "")}</textarea>'
        f'<p class="hint" id="comment-hint">{escape(w.comment_hint)}</p>'
        f'<button type="submit">{escape(w.submit)}</button></form>'
    )
    return _page(locale, w.title, "\n".join(parts))


def thanks_page(locale: str, score: int, recovery: bool) -> str:
    w = words(locale)
    text = f"<p>{escape(w.thanks)}</p>"
    if recovery:
        text += f"<p>{escape(w.recovery)}</p>"
    return _page(locale, w.thanks_title, f"<h1>{escape(w.thanks_title)}</h1>\n{text}")


def status_page(locale: str, status: str) -> str:
    """An answered or closed survey: say so, offer nothing to submit."""
    w = words(locale)
    title, text = (
        (w.answered_title, w.answered) if status == "answered" else (w.closed_title, w.closed)
    )
    return _page(locale, title, f"<h1>{escape(title)}</h1>\n<p>{escape(text)}</p>")


def not_found_page(locale: str) -> str:
    w = words(locale)
    return _page(
        locale,
        w.not_found_title,
        f"<h1>{escape(w.not_found_title)}</h1>\n<p>{escape(w.not_found)}</p>",
    )


def preferred_locale(accept_language: str | None) -> str:
    """For pages with no survey behind them: the browser's language, else zh-CN."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return EN_US
        if tag.startswith("zh"):
            return ZH_CN
    return ZH_CN
