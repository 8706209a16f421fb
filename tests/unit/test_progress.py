"""The operator commands' progress bar: live on a terminal, one summary line elsewhere."""

from __future__ import annotations

import io

import pytest

from api.progress import ProgressBar


def test_off_a_terminal_only_a_summary_line_is_written_at_the_end() -> None:
    stream = io.StringIO()

    with ProgressBar("verifying", stream=stream) as bar:
        for done in range(0, 20_001, 500):
            bar(done, 20_000)
        assert stream.getvalue() == ""  # nothing while it runs: a log gets no redraws

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("verifying: 100%  20,000/20,000 events in ")


def test_a_failed_run_still_says_how_far_it_got() -> None:
    stream = io.StringIO()

    with pytest.raises(RuntimeError), ProgressBar("re-wrapping", "data keys", stream) as bar:
        bar(25, 100)
        raise RuntimeError("the keystore went away")

    assert stream.getvalue().startswith("re-wrapping: 25%  25/100 data keys in ")


def test_on_a_terminal_a_live_bar_shows_the_count() -> None:
    stream = io.StringIO()

    with ProgressBar("rebuilding contacts", stream=stream, terminal=True) as bar:
        bar(3, 4)
        bar(4, 4)

    final = stream.getvalue().rpartition("\r")[2]  # the last redraw of the line
    assert "rebuilding contacts" in final and "100%" in final and "4/4" in final
    assert "rebuilding contacts:" not in stream.getvalue()  # the bar is its own summary
