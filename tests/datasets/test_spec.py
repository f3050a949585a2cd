"""The `kind:params` grammar: canonical round trips and clear errors."""

from __future__ import annotations

import pytest

from marketlake.datasets.spec import LabelSpec, SplitSpec, TransformSpec
from marketlake.errors import ConfigError


def test_bare_value_is_the_horizon_and_names_the_column() -> None:
    s = LabelSpec.parse("fwd_return:5")
    assert (s.kind, s.h, s.name) == ("fwd_return", 5, "fwd_return_5")
    tb = LabelSpec.parse("triple_barrier:h=10,mult=1.5")
    assert tb.params["mult"] == 1.5 and tb.params["vol"] == 20


@pytest.mark.parametrize("text", ["fwd_return:5", "excess_return:h=3,benchmark=mean", "threshold:h=5,up=0.02,down=0.01",
                                  "triple_barrier:h=10,mult=2,vol=30,name=tb"])
def test_canonical_text_parses_back_to_the_same_spec(text: str) -> None:
    s = LabelSpec.parse(text)
    assert LabelSpec.parse(str(s)) == s


def test_split_round_trip() -> None:
    s = SplitSpec.parse("walk_forward:folds=4,embargo=3,mode=rolling,window=100")
    assert SplitSpec.parse(str(s)) == s and s.window == 100
    assert SplitSpec.parse("kfold:5").folds == 5
    assert TransformSpec.parse("winsorize:p=0.05").params["p"] == 0.05


@pytest.mark.parametrize(("text", "message"), [
    ("fwd_retrun:5", "unknown label kind"),
    ("fwd_return", "give the horizon"),
    ("fwd_return:0", ">= 1"),
    ("fwd_return:h=5,foo=1", "unknown parameter 'foo'"),
    ("triple_barrier:h=5,vol=1", "vol="),
])
def test_bad_labels_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LabelSpec.parse(text)


@pytest.mark.parametrize("text", ["walk_forward:folds=0", "walk_forward:mode=sideways", "kfold:folds=1",
                                  "walk_forward:embargo=-1"])
def test_bad_splits(text: str) -> None:
    with pytest.raises(ConfigError):
        SplitSpec.parse(text)
