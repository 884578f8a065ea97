"""The live block's precompiled decoder gives exactly what decode_block gives, for any words."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loggerd_drivers.reference_modbus import _LIVE, _LIVE_SPAN
from loggerd_drivers.rl1600 import DEFN
from loggerd_protocol.values import BlockDecoder, decode_block

START, COUNT = _LIVE_SPAN


@given(st.lists(st.integers(0, 0xFFFF), min_size=COUNT, max_size=COUNT))
def test_the_same_values_as_decode_block(words: list[int]) -> None:
    expected = decode_block(DEFN.table("input"), START, words)
    got = _LIVE.decode(words)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        same = got[name] == value or (
            isinstance(value, float) and math.isnan(value) and math.isnan(got[name])  # type: ignore[arg-type]
        )
        assert same and type(got[name]) is type(value), (name, got[name], value)


def test_a_block_of_the_wrong_size_or_words_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match=f"the block is {COUNT} registers"):
        _LIVE.decode([0] * (COUNT - 1))
    with pytest.raises(ValueError, match=r"registers must be 0\.\.0xFFFF"):
        _LIVE.decode([0x10000] * COUNT)


def test_text_fields_are_not_for_a_block_decoder() -> None:
    identity = [f for f in DEFN.table("input") if f.type == "ascii"]
    assert identity, "the reference logger has text fields (its identity)"
    f = identity[0]
    with pytest.raises(ValueError, match="numeric fields only"):
        BlockDecoder(DEFN.table("input"), f.address, f.words)
