"""SMS messages and segments per ticket life, per locale (the bank pays per segment).

Renders the real templates with worst-case production values (a 24-character
PUBLIC_BASE_URL, a 22-character survey code) along the scripted lives below
and prints messages, segments and encodings. Figures, not a pass/fail test.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.domain.notifications import LOCALES, render_sms  # noqa: E402
from chalicelib.domain.sms import encoding, length, segments  # noqa: E402

VALUES = {
    "reference": "SD-7K4Q9M2P",
    "public_base_url": "https://sd.bankxyz.cn.co",
    "code": "q3Z-_9xYt0LmN4pQrS7uVw",
    "message": "Please send the transfer receipt",
    "resolution": "Refunded",
    "branch_name": "Urumqi Xinjiang Road Branch",
    "slot_time": "2026-12-31 16:30",
}
LIVES = {
    "create -> resolve -> survey answered": ["ticket.created", "ticket.resolved", "survey.invited"],
    "create -> resolve -> survey reminded": [
        "ticket.created",
        "ticket.resolved",
        "survey.invited",
        "survey.reminded",
    ],
    "create -> request info -> reply -> resolve -> survey": [
        "ticket.created",
        "ticket.waiting_on_customer",
        "comment.public",
        "ticket.resolved",
        "survey.invited",
    ],
    "appointment booked -> reminder": ["appointment.booked", "appointment.reminder"],
}


def main() -> None:
    print(f"{'life':55} {'locale':6} {'messages':>8} {'segments':>8}  longest")
    for life, templates in LIVES.items():
        for locale in LOCALES:
            values = dict(VALUES)
            if locale == "zh-CN":
                values["branch_name"] = "乌鲁木齐新疆路支行"
            texts = [render_sms(template, locale, values) for template in templates]
            longest = max(texts, key=length)
            print(
                f"{life:55} {locale:6} {len(texts):>8} {sum(map(segments, texts)):>8}  "
                f"{length(longest)} {encoding(longest)}"
            )
    print("target: at most 3 segments for create -> resolve -> survey (one segment per message)")


if __name__ == "__main__":
    main()
