"""tools/screenshots.py: the screenshots for review, and their index (issue 17)."""

from __future__ import annotations

import re
import struct

from tools import screenshots
from tools.screenshots import OUT, SCHEMES, SIZES, STATES, write_index


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def test_the_index_says_what_each_screenshot_shows(tmp_path, monkeypatch):
    monkeypatch.setattr(screenshots, "OUT", tmp_path)
    names = [f"{st}-{sz}-{sc}.png" for st in STATES for sz in SIZES for sc in SCHEMES]
    listed = [line for line in write_index(names).read_text().splitlines() if line[:2] == "- "]
    assert len(listed) == len(names) == 32  # 8 states (3 of them the embed's), 2 sizes, 2 schemes
    assert (
        "- `interrupted-phone-dark.png`: a live session after Interrupt: the avatar's answer "
        "cut short, on a phone (390x844), in dark mode." in listed
    )
    assert (
        "- `embed-open-desk-light.png`: the shop's page with the launcher open: our page in its "
        "panel, ready, on a desk (1280x800), in light mode." in listed
    )


def test_the_committed_screenshots_are_the_ones_the_index_lists_at_their_sizes():
    listed = re.findall(r"^- `([\w-]+\.png)`", (OUT / "README.md").read_text(), re.M)
    assert len(listed) == len(STATES) * len(SIZES) * len(SCHEMES)
    for name in listed:
        size = name.removesuffix(".png").split("-")[-2]  # <state>-<size>-<scheme>
        want = (SIZES[size]["width"], SIZES[size]["height"])
        assert png_size((OUT / name).read_bytes()) == want, name
