"""Every config in conf/ composes, and the main overrides of the design card are accepted."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import train

GROUPS = sorted(p.name for p in Path(CONF_DIR).iterdir() if p.is_dir() and p.name != "hydra")  # hydra: below
LAUNCHERS = sorted(p.stem for p in (Path(CONF_DIR) / "hydra" / "launcher").glob("*.yaml"))


def composed(overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["paper=x.pdf", *overrides])
        return OmegaConf.to_container(cfg, resolve=True)


# groups whose options write elsewhere than a key of their own name (`# @package _global_`)
GLOBAL_GROUPS = {"hparams_search": "search"}


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_composes(group):
    options = sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))
    assert options, group
    for option in options:
        value = f"[{option}]" if group == "baselines" else option
        cfg = composed([f"{group}={value}"])
        assert cfg[GLOBAL_GROUPS.get(group, group)], (group, option)


def test_default_config_has_the_documented_groups_and_budget():
    cfg = composed([])
    assert set(cfg["baselines"]) == {"auto", "n_jobs"}  # the family's usual set, chosen once the spec is known
    assert cfg["baselines"]["n_jobs"] == "auto"  # the stage's own setting beside the models
    assert cfg["dataset"]["name"] == "ml-100k"
    assert cfg["trainer"]["accelerator"] == "cpu"
    assert cfg["until"] == "compare" and cfg["force"] is False


def test_design_card_overrides():
    cfg = composed(["baselines=[BPR,LightGCN]", "trainer.accelerator=gpu", "trainer.devices=4", "until=parse",
                    "from_stage=render", "force=true", "+hparams.learning_rate=0.01"])
    assert [name for name in cfg["baselines"] if name != "n_jobs"] == ["BPR", "LightGCN"]
    assert cfg["trainer"]["devices"] == 4
    assert cfg["hparams"] == {"learning_rate": 0.01}
    assert composed(["trainer=gpu"])["trainer"]["accelerator"] == "gpu"


def hydra_launcher(launcher: str, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["paper=x.pdf", f"hydra/launcher={launcher}", *overrides],
                      return_hydra_config=True)
        return OmegaConf.to_container(cfg.hydra, resolve=False)


@pytest.mark.parametrize("launcher", ["joblib", *LAUNCHERS])
def test_every_launcher_composes_and_keeps_the_logging_overrides(launcher):
    hydra_cfg = hydra_launcher(launcher)
    assert hydra_cfg["launcher"]["_target_"].startswith("hydra_plugins.")
    assert hydra_cfg["runtime"]["choices"]["hydra/job_logging"] == "disabled"
    assert hydra_cfg["runtime"]["choices"]["hydra/hydra_logging"] == "disabled"


def test_joblib_jobs_and_slurm_resources_are_settable():
    assert hydra_launcher("joblib", "hydra.launcher.n_jobs=3")["launcher"]["n_jobs"] == 3
    slurm = hydra_launcher("slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4")["launcher"]
    assert slurm["_target_"].endswith("SlurmLauncher")
    assert (slurm["partition"], slurm["gpus_per_node"], slurm["tasks_per_node"]) == ("gpu", 4, 1)
    assert slurm["timeout_min"] > 0 and slurm["mem_gb"] > 0


def test_ddp_trainer_reaches_the_training_subprocess(tmp_path):
    trainer = composed(["trainer=ddp", "trainer.devices=4"])["trainer"]
    assert (trainer["accelerator"], trainer["devices"], trainer["strategy"]) == ("gpu", 4, "ddp")
    assert trainer["family_max_epochs"] is None  # the GPU budget, not the CPU caps
    split = SplitInfo(dataset="d", split_id="s", path=str(tmp_path), n_users=1, n_items=1, n_train=1, n_valid=0,
                      n_test=0, protocol="p")
    command = train.training_command(tmp_path, split, trainer, tmp_path / "out")
    sets = {command[i + 1] for i, arg in enumerate(command) if arg == "--set"}
    assert {"trainer.strategy=ddp", "trainer.devices=4", "trainer.accelerator=gpu"} <= sets
    assert train.multi_device(trainer)  # the sandbox lets Lightning start one process per GPU
    assert not any("strategy" in s for s in train.training_command(tmp_path, split, composed([])["trainer"],
                                                                     tmp_path / "out"))
