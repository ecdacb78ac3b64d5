from __future__ import annotations

import pytest

from memlens.redact import redact_args, redact_cmdline


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["app", "--password=hunter2"], ["app", "--password=***"]),
        (
            ["app", "--api-key", "abc123", "--port", "80"],
            ["app", "--api-key", "***", "--port", "80"],
        ),
        (["env", "DB_PASSWORD=s3cret"], ["env", "DB_PASSWORD=***"]),
        (["psql", "postgres://bob:pa55@db/x"], ["psql", "postgres://bob:***@db/x"]),
        (
            ["curl", "-H", "Authorization: Bearer abc.def"],
            ["curl", "-H", "Authorization: Bearer ***"],
        ),
        (["python3", "app.py", "--workers", "4"], ["python3", "app.py", "--workers", "4"]),
    ],
)
def test_secrets_are_masked_and_the_rest_is_kept(args: list[str], expected: list[str]) -> None:
    assert redact_args(args) == expected


def test_cmdline_is_one_string_with_quoted_spaces() -> None:
    assert redact_cmdline(["sh", "-c", "sleep 1", "--token=x"]) == 'sh -c "sleep 1" --token=***'
