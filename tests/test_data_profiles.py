"""Dataset profiles: knob parsing, validation messages and the tag popularity curve."""

from __future__ import annotations

import pytest

from ormbench.data.profiles import (
    CONTENT_DATA_MIN_BYTES,
    DEFAULT_PROFILE,
    PROFILES,
    Profile,
    get_profile,
    knob_types,
)
from ormbench.errors import DatasetError


def test_every_profile_is_valid_and_named_as_documented() -> None:
    """The four documented profiles exist, are valid and ci is the default."""
    assert list(PROFILES) == ["tiny", "ci", "canonical", "production"]
    assert DEFAULT_PROFILE == "ci"
    assert all(get_profile(name, {}) is PROFILES[name] for name in PROFILES)


def test_production_has_production_row_counts() -> None:
    """production keeps production's partition sizes and tag count."""
    p = PROFILES["production"]
    assert (p.items, p.auto, p.tags) == (65_000, 1_110_000, 106)


def test_overrides_are_parsed_by_knob_type() -> None:
    """Overrides are text; ints accept underscores, floats decimals; the name is kept."""
    p = get_profile("tiny", {"auto": "2_500", "private_share": "0.25", "seed": "7"})
    assert (p.name, p.auto, p.private_share, p.seed) == ("tiny", 2500, 0.25, 7)
    assert knob_types()["tags_per_item"] is float and knob_types()["users"] is int


def test_unknown_profile_lists_the_valid_ones() -> None:
    """An unknown profile name fails with one line naming every valid profile and the option."""
    with pytest.raises(DatasetError) as info:
        get_profile("huge", {})
    message = str(info.value)
    assert "'huge'" in message and "tiny, ci, canonical, production" in message
    assert "--dataset" in message and "\n" not in message


def test_unknown_knob_lists_the_valid_ones() -> None:
    """An unknown knob fails with the list of knobs."""
    with pytest.raises(DatasetError, match=r"unknown dataset knob 'rows'.*items, auto, users"):
        get_profile("ci", {"rows": "10"})


def test_bad_value_names_itself() -> None:
    """A value that does not parse is quoted with the knob and the expected type."""
    with pytest.raises(
        DatasetError, match=r"could not parse '10%' for dataset knob items: expected an integer"
    ):
        get_profile("ci", {"items": "10%"})


@pytest.mark.parametrize(
    ("overrides", "knob"),
    [
        ({"items": "-1"}, "items"),
        ({"items": "0", "auto": "0"}, "items"),
        ({"items": "0"}, "items"),
        ({"auto": "0"}, "auto"),
        ({"tags": "1"}, "tags"),
        ({"rare_tag_share": "0.9"}, "rare_tag_share"),
        ({"tags_per_item": "100"}, "tags_per_item"),
        ({"private_share": "1.5"}, "private_share"),
        ({"content_data_bytes": str(CONTENT_DATA_MIN_BYTES - 1)}, "content_data_bytes"),
    ],
)
def test_invalid_knob_values_are_refused(overrides: dict[str, str], knob: str) -> None:
    """Out-of-range knobs fail on one line naming the knob and the fix option."""
    with pytest.raises(DatasetError) as info:
        get_profile("ci", overrides)
    assert f"{knob}=" in str(info.value) and "--dataset-set" in str(info.value)


def test_unreachable_tags_per_item_names_the_reachable_range() -> None:
    """tags_per_item outside what top/rare shares allow reports the reachable range."""
    with pytest.raises(DatasetError, match=r"choose between 1\.8\d and 78\.\d\d"):
        get_profile("ci", {"tags_per_item": "1.0"})


@pytest.mark.parametrize("name", list(PROFILES))
def test_tag_curve_hits_its_three_targets(name: str) -> None:
    """Top tag share, rarest tag share and mean tags per item are exactly the knobs."""
    p = PROFILES[name]
    shares = p.tag_shares()
    assert len(shares) == p.tags
    assert shares[0] == pytest.approx(p.top_tag_share)
    assert shares[-1] == pytest.approx(p.rare_tag_share)
    assert sum(shares) == pytest.approx(p.tags_per_item, rel=1e-6)
    assert shares == sorted(shares, reverse=True)


def test_knobs_cover_every_field_but_the_name() -> None:
    """knobs() is the fingerprint's content: every field except the name, seed included."""
    p = PROFILES["tiny"]
    assert set(p.knobs()) == set(knob_types()) and "seed" in p.knobs()
    assert isinstance(p, Profile)
