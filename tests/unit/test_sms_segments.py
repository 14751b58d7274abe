"""SMS length: GSM-7 or UCS-2, septets and UTF-16 units, and how many segments a text costs."""

import pytest

from chalicelib.domain.sms import GSM_7, UCS_2, encoding, length, segments

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair, two UTF-16 code units


# --- encoding ------------------------------------------------------------------------


def test_the_whole_default_alphabet_is_gsm_7():
    assert len(GSM_BASIC) == 127  # 128 code points less the escape
    assert encoding(GSM_BASIC) == GSM_7
    assert length(GSM_BASIC) == 127


@pytest.mark.parametrize("char", list(GSM_EXTENSION))
def test_extension_characters_are_gsm_7_and_cost_two_septets(char):
    assert encoding(char) == GSM_7
    assert length(char) == 2


@pytest.mark.parametrize(
    "char",
    ["中", "ç", "á", "’", "“", "—", "…", "`", "\t", "\x1b", "\u00a0", "₹", EMOJI],
)
def test_anything_outside_the_alphabet_makes_the_whole_text_ucs_2(char):
    assert encoding("Your request SD-7K4Q9M2P" + char) == UCS_2


def test_empty_text_is_gsm_7():
    assert encoding("") == GSM_7


def test_ucs_2_counts_utf_16_code_units():
    assert length("中文") == 2
    assert length(EMOJI) == 2
    assert length("a" + EMOJI) == 3  # the a is one code unit once the text is UCS-2
    assert length("€中") == 2  # the euro sign is one code unit in UCS-2, not two septets


# --- segments: GSM-7 -----------------------------------------------------------------


def test_empty_text_is_no_message():
    assert segments("") == 0


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1, 1), (159, 1), (160, 1), (161, 2), (305, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_7_boundaries(size, expected):
    assert segments("a" * size) == expected


@pytest.mark.parametrize("char", list(GSM_EXTENSION))
def test_extension_character_at_the_single_segment_boundary(char):
    assert segments("a" * 158 + char) == 1  # 160 septets
    assert segments("a" * 159 + char) == 2  # 161 septets


def test_eighty_extension_characters_fill_one_segment():
    assert segments("€" * 80) == 1
    assert segments("€" * 81) == 2


def test_an_escape_pair_never_straddles_two_segments():
    # 152 + 2 + 152 = 306 septets, which would divide into two segments of 153,
    # but the euro cannot be split: it moves whole to the second segment.
    assert length("a" * 152 + "€" + "a" * 152) == 306
    assert segments("a" * 152 + "€" + "a" * 152) == 3
    assert segments("a" * 151 + "€" + "a" * 153) == 2


def test_line_breaks_are_one_septet_but_form_feed_is_two():
    assert segments("a" * 159 + "\n") == 1
    assert segments("a" * 159 + "\f") == 2


# --- segments: UCS-2 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1, 1), (69, 1), (70, 1), (71, 2), (133, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs_2_boundaries_in_chinese(size, expected):
    assert segments("中" * size) == expected


def test_one_chinese_character_turns_a_latin_text_into_seventy_unit_segments():
    assert segments("a" * 69 + "中") == 1
    assert segments("a" * 70 + "中") == 2


def test_emoji_count_two_code_units():
    assert segments(EMOJI * 35) == 1
    assert segments("中" * 69 + EMOJI) == 2  # 71 code units
    assert segments("中" * 68 + EMOJI) == 1  # exactly 70


def test_a_surrogate_pair_never_straddles_two_segments():
    assert length("中" * 66 + EMOJI + "中" * 66) == 134
    assert segments("中" * 66 + EMOJI + "中" * 66) == 3
    assert segments("中" * 65 + EMOJI + "中" * 67) == 2


def test_a_realistic_chinese_notice():
    text = "【XX银行】您的服务单SD-7K4Q9M2P已受理，进度请在手机银行查看。"
    assert encoding(text) == UCS_2
    assert length(text) == len(text)
    assert segments(text) == 1
