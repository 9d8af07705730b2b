"""The demo's live progress display: stages, a ladder's bar and log lines on stderr."""

from __future__ import annotations

import threading

from stepstone.demo.display import Display


def test_stages_bars_and_log_lines_reach_stderr(capsys) -> None:
    with Display(quiet=False, total_stages=2) as display:
        first = display.stage("make the lab")
        display.done(first, "lab at /tmp/x")
        ladder = display.stage("run the ladder", total=4)
        display.log("rung 1 failed: <oops>")
        workers = [threading.Thread(target=display.update, args=(ladder, i, f"{i}/4 done"))
                   for i in range(1, 4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        display.done(ladder, "4 done, 0 failed")
    err = capsys.readouterr().err
    for text in ("1/2 make the lab", "lab at /tmp/x", "2/2 run the ladder", "4 done, 0 failed",
                 "rung 1 failed: <oops>"):
        assert text in err, text
    assert err.index("rung 1 failed") < err.rindex("4 done, 0 failed")


def test_quiet_prints_nothing_and_still_numbers_stages(capsys) -> None:
    with Display(quiet=True, total_stages=3) as display:
        assert [display.stage("a"), display.stage("b")] == [1, 2]
        display.update(2, 1, "half")
        display.done(2, "done")
        display.log("hidden")
    assert capsys.readouterr() == ("", "")
