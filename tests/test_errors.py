"""OptionError: the library names its parameters, the CLI its flags."""

import pytest

from tomoinpaint.errors import OptionError


def test_names_render_per_caller():
    e = OptionError("give {wedge} or {tilt_min}, not both ({{literal}})", "wedge", "tilt_min")
    assert str(e) == "give wedge or tilt_min, not both ({literal})"
    assert e.render(lambda n: "--" + n.replace("_", "-")) == (
        "give --wedge or --tilt-min, not both ({literal})"
    )
    assert isinstance(e, ValueError) and e.options == ("wedge", "tilt_min")


def test_a_name_missing_from_the_options_is_an_error():
    with pytest.raises(KeyError):
        OptionError("{step} must be positive")
