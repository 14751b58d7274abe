import pytest

from chalicelib.domain.contact import Contact, mask_email, mask_phone


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613812348000", "+86 138****8000"),
        ("+14155552671", "+1 415****2671"),
        ("+85291234567", "+852 ****4567"),
        ("+442071838750", "+44 207****8750"),
    ],
)
def test_phone_mask_keeps_country_code_first_three_and_last_four(e164, masked):
    assert mask_phone(e164) == masked


def test_short_national_numbers_hide_all_but_last_four():
    assert mask_phone("+8535551234") == "+853 ***1234"


def test_email_mask_keeps_first_character_and_domain():
    assert mask_email("jane.doe@example.com") == "j***@example.com"


@pytest.mark.parametrize(
    ("data", "preferred"),
    [
        ({"phone": "+8613812348000", "email": "a@b.cn"}, "sms"),
        ({"email": "a@b.cn"}, "email"),
        ({}, "none"),
        ({"phone": "+8613812348000", "preferred": "email"}, "email"),
    ],
)
def test_preferred_channel_defaults(data, preferred):
    contact = Contact.from_request(data)
    assert contact.preferred == preferred
    assert contact.locale == "zh-CN"


def test_masked_view_never_holds_full_values():
    contact = Contact.from_request({"phone": "+8613812348000", "email": "jane@example.com"})
    view = contact.masked()
    assert "13812348000" not in str(view)
    assert "jane@" not in str(view)
