"""Settings read from the environment stop the process with the variable named when bad."""

import subprocess
import sys

import pytest

from tests.own_database import REPO, portal_env


@pytest.mark.parametrize("name", ["SEARCH_SQL_COUNT_LIMIT", "REPORT_WORKERS", "REPORT_RETENTION_DAYS"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_bad_whole_number_names_the_variable(tmp_path, name, value):
    result = subprocess.run([sys.executable, "-c", "import portal.settings"], cwd=REPO, capture_output=True,
                            text=True, env={**portal_env(tmp_path), name: value})
    assert result.returncode != 0
    assert f"{name}={value!r}: use a whole number of at least 1" in result.stderr
