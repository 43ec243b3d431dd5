"""Every config in conf/ composes, and the main overrides of the design card are accepted."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from paper_autotrain.cli import CONF_DIR

GROUPS = sorted(p.name for p in Path(CONF_DIR).iterdir() if p.is_dir())


def composed(overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["paper=x.pdf", *overrides])
        return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_composes(group):
    options = sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))
    assert options, group
    for option in options:
        value = f"[{option}]" if group == "baselines" else option
        cfg = composed([f"{group}={value}"])
        assert cfg[group], (group, option)


def test_default_config_has_the_documented_groups_and_budget():
    cfg = composed([])
    assert set(cfg["baselines"]) == {"auto"}  # the family's usual set, chosen once the spec is known
    assert cfg["dataset"]["name"] == "ml-100k"
    assert cfg["trainer"]["accelerator"] == "cpu"
    assert cfg["until"] == "compare" and cfg["force"] is False


def test_design_card_overrides():
    cfg = composed(["baselines=[BPR,LightGCN]", "trainer.accelerator=gpu", "trainer.devices=4", "until=parse",
                    "from_stage=render", "force=true", "+hparams.learning_rate=0.01"])
    assert list(cfg["baselines"]) == ["BPR", "LightGCN"]
    assert cfg["trainer"]["devices"] == 4
    assert cfg["hparams"] == {"learning_rate": 0.01}
    assert composed(["trainer=gpu"])["trainer"]["accelerator"] == "gpu"
