"""Output keys stay under the output prefix."""
from __future__ import annotations

import pytest

from pipeline.keys import KeyRejected, join_url, output_relpath


@pytest.mark.parametrize(
    "relpath, expected",
    [("a.jpg", "a.png"), ("dir/sub/b.JPEG", "dir/sub/b.png"), ("noext", "noext.png"), ("über café.jpg", "über café.png")],
)
def test_mirrors_input_names(relpath: str, expected: str) -> None:
    assert output_relpath(relpath, "png") == expected


@pytest.mark.parametrize(
    "relpath",
    ["../x.jpg", "a/../../x.jpg", "/etc/x.jpg", "a//b.jpg", "./a.jpg", "a\\..\\b.jpg", "bad\x00name.jpg",
     "line\nbreak.jpg", "rtl\u202eexe.jpg"],
)
def test_rejects_escaping_or_odd_names(relpath: str) -> None:
    with pytest.raises(KeyRejected):
        output_relpath(relpath, "png")


def test_join_url_has_one_slash() -> None:
    assert join_url("s3://b/out/", "x/y.png") == "s3://b/out/x/y.png"
