"""evaluation.settings is checked with disentkit.metrics' public names only."""

from __future__ import annotations

import pytest

from disentkit.study.spec import check_evaluation_settings


@pytest.mark.parametrize("key", ["preset", "metrics", "seed"])
def test_evaluate_s_own_arguments_are_not_settings(key):
    with pytest.raises(ValueError, match=f"cannot set \\['{key}'\\].*evaluation.{key}"):
        check_evaluation_settings(["mig"], "fast", {key: 1})


def test_settings_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="codes must be one of"):
        check_evaluation_settings(["mig"], "fast", {"codes": "median"})
    with pytest.raises(ValueError, match="unknown setting 'num_bin'"):
        check_evaluation_settings(["mig"], "fast", {"num_bin": 3})
    check_evaluation_settings(["mig", "sap"], "fast", {"num_train": 100, "settings": {"mig": {"num_bins": 10}}})
