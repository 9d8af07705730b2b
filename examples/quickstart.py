"""A short end-to-end example: track a tiny training loop, then read it back.

Run it with ``.venv/bin/python examples/quickstart.py`` (the main job, ``bash scripts/demo.sh``,
runs ``stepstone demo``);
it writes a lab to ./quickstart-lab (not the demo's ./stepstone-demo) and prints what was
recorded.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

import stepstone
from stepstone.demo import stepstone_command
from stepstone.store import init_lab, open_lab


def train(lab: Path, lr: float, seed: int) -> str:
    random.seed(seed)
    run = stepstone.init(project="quickstart", name=f"lr={lr}-seed={seed}", lab=lab,
                         config={"optim": {"lr": lr}, "seed": seed, "steps": 300})
    loss = 4.0
    for step in range(run.config["steps"]):
        loss = 1.5 + (loss - 1.5) * (1 - lr) + random.gauss(0, 0.01)
        run.log({"train/loss": loss, "train/lr": lr * math.cos(step / 300 * math.pi / 2)})
    run.log_eval([{"id": f"ex{i}", "score": loss + random.gauss(0, 0.1),
                   "difficulty": ["easy", "medium", "hard"][i % 3]} for i in range(30)])
    run.summary["final_loss"] = loss
    run.finish()
    return run.id


def main() -> None:
    lab = init_lab(Path("quickstart-lab"))
    for lr in (0.01, 0.03):
        for seed in (0, 1):
            train(lab, lr, seed)
    with open_lab(lab) as opened:
        for record in opened.runs.list(project="quickstart"):
            points = opened.metrics.count(record.id)
            print(f"{record.name:>18}  {record.status:9} final_loss="
                  f"{record.summary['final_loss']:.3f}  points={points}")
    print(f"\nlab: {lab}\nnext: {stepstone_command()} status --lab {lab}")
    subprocess.run([sys.executable, "-m", "stepstone", "status", "--lab", str(lab)], check=False)


if __name__ == "__main__":
    main()
