import pytest

from chalicelib.domain.contact import Contact, mask_email, mask_phone


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613812348000", "+86 138****8000"),
        ("+8613812348000123", "+86 138*******0123"),
    ],
)
def test_long_national_numbers_keep_country_code_first_three_and_last_four(e164, masked):
    assert mask_phone(e164) == masked


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+33612345678", "+33 *****5678"),  # 9 digits: 138****5678 would show 7 of 9
        ("+14155552671", "+1 ******2671"),
        ("+442071838750", "+44 ******8750"),
        ("+85291234567", "+852 ****4567"),
    ],
)
def test_national_numbers_under_eleven_digits_show_only_the_last_four(e164, masked):
    assert mask_phone(e164) == masked


def test_short_national_numbers_hide_at_least_four_digits():
    assert mask_phone("+8535551234") == "+853 ****234"


@pytest.mark.parametrize("length", range(5, 15))
def test_every_mask_hides_at_least_four_national_digits(length):
    national = "123456789012345"[:length]
    country, _, shown = mask_phone(f"+86{national}").partition(" ")
    assert country == "+86"
    assert len(shown) == length  # one character per digit
    assert shown.count("*") >= 4
    assert shown.endswith(national[-min(4, length - 4) :])


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
