import pytest

from chalicelib.domain.contact import Contact, mask_email, mask_phone


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        # SPEC 5's own examples (spec review 2, Low 8: `+1 ******2671` was served)
        ("+8613812348000", "+86 138****8000"),
        ("+14155552671", "+1 415****2671"),
        # 9 digits and more: the first 3 and the last 4
        ("+33612345678", "+33 612****5678"),
        ("+442071838750", "+44 207****8750"),
        ("+8613812348000123", "+86 138****0123"),
    ],
)
def test_from_nine_national_digits_the_first_three_and_last_four_show(e164, masked):
    assert mask_phone(e164) == masked


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+85291234567", "+852 ****4567"),
        ("+861234567", "+86 ****4567"),  # was `+86 ****567`
        ("+8535551234", "+853 ****1234"),
    ],
)
def test_under_nine_national_digits_all_but_the_last_four_are_hidden(e164, masked):
    assert mask_phone(e164) == masked


@pytest.mark.parametrize("length", range(4, 15))
def test_the_mask_never_tells_how_many_digits_it_hides(length):
    national = "123456789012345"[:length]
    country, _, shown = mask_phone(f"+86{national}").partition(" ")
    assert country == "+86"
    assert shown.count("*") == 4 and "*****" not in shown
    assert shown.endswith(national[-4:])
    assert shown.startswith(national[:3] if length >= 9 else "****")


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
