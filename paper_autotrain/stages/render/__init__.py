"""Render a MethodSpec into model.py, config.yaml and README.md from the Jinja2 templates.

Each architecture block has its own template (templates/blocks/<block>.j2) holding the code it
contributes to each section of the model class (constructor arguments, __init__ lines, encode
steps, methods, scoring, L2 rows), and its manifest beside it (<block>.yaml: parameters, the
hyperparameters they read, what it needs before it); each family's scaffold is its family.yaml
(:mod:`paper_autotrain.library` reads them all). The loss has a template too (templates/losses/<loss>.j2).
Rendering is deterministic: the same spec and cfg give the same bytes.

Parts no block covers (`spec.custom`) are written by an LLM into a slot of their family (templates/slots/<slot>.yaml:
the contract; <slot>.py.j2: the model code that builds and calls the part; custom_part.py.j2: the part's class, its
signatures fixed by the contract). They form the `custom` block, whose manifest is its scaffold's custom.yaml joined
with its parts' slots. `run(spec, cfg, fill_in)` hands them to the fill-in loop
(:mod:`paper_autotrain.stages.render.fill`, this stage's helper), which keeps only code that passed every gate.
Without an LLM the spec is refused, naming the parts; a part is never silently replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from paper_autotrain.errors import StageError
from paper_autotrain.library import (
    CUSTOM_BLOCK,
    Base,
    BlockParam,
    BlockRule,
    Library,
    Resolved,
    SlotArg,
    SlotRule,
    custom_rule,
    describe_range,
    in_range,
    load_library,
    resolve_param,
    slot_for,
)
from paper_autotrain.paths import TEMPLATES_DIR
from paper_autotrain.regimes import fitted_once, regime
from paper_autotrain.schemas import (
    FIDELITY_MODES,
    OPTIMIZER_SETTINGS,
    STAND_IN_LOSSES,
    TRAINING_HYPERPARAMETERS,
    Block,
    CustomPart,
    MethodSpec,
)

if TYPE_CHECKING:
    from paper_autotrain.stages.render.fill import FillIn, SlotFill

log = logging.getLogger(__name__)

ACTIVATIONS = {"relu": "nn.ReLU()", "tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()",
               "leaky_relu": "nn.LeakyReLU()", "gelu": "nn.GELU()",
               "dice": "Dice(size)"}  # DIN's data-adaptive activation, sized by the layer (`size` in mlp_tower)
OPTIM_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("optimizer", "adam"), ("learning_rate", 0.001), ("batch_size", 2048), ("l2_reg", 0.0),
    ("negative_samples", 1),
)
# a loss's own hyperparameter, its optim key and default (extract's default too: stages/extract/family_defaults.yaml)
LOSS_HYPERPARAMETERS: dict[str, tuple[str, float]] = {"bpr_max": ("bpr_max_reg", 1.0)}
DEFAULT_MAX_EPOCHS = 300
TRAINER_DEFAULTS: dict[str, Any] = {
    "patience": 10, "accelerator": "cpu", "devices": 1, "precision": 32, "seed": 0, "deterministic": "warn",
}
TRAINER_KEYS = ("max_epochs", *TRAINER_DEFAULTS)
EPOCH_KEYS = ("max_epochs", "patience")  # read only by training by epochs
DATA_DEFAULTS: dict[str, Any] = {"eval_batch_size": 1024, "ks": [10, 20]}
DOC_WIDTH = 100
SLOT_TEMPLATE = "slots/custom_part.py.j2"
LAST_POSITION = "last_position"  # the pooling that reads a causal encoder where every position is a prediction
# Settings that shape training, not the model: a custom part is not given them as hparams
TRAINING_KEYS = frozenset({"optimizer", "learning_rate", "batch_size", "l2_reg", "negative_samples", "epochs",
                           "embedding_size"})
NEEDS_FILL_IN = ("they need the LLM fill-in: choose llm=openai or llm=compatible llm.base_url=... (the parts are "
                 "written into the model's fixed slot and checked by the gates)")
SLOT_KEY_LENGTH = 32  # a part's key (config.yaml, attribute and class names) is cut at a word to stay readable
LINE_WIDTH = 116  # generated lines stay under ruff's 120 with room for indentation


def template_library(cfg: Mapping | None = None) -> Library:
    """The block library of the templates render reads (cfg["templates_dir"], else templates/)."""
    root = templates_dir(cfg)
    if not (root / "model.py.j2").exists():
        raise StageError(f"render: no templates in {root} (set templates_dir)")
    return load_library(root)


def base_for(spec: MethodSpec, cfg: Mapping | None = None) -> Base:
    return template_library(cfg).base_for(spec.family)


# --- entry point -----------------------------------------------------------------------------------

def run(spec: MethodSpec, cfg: Mapping, fill_in: FillIn | None = None) -> dict[str, str]:
    """{"model.py", "config.yaml", "README.md"} texts for `spec`; StageError if a part has no template.

    With `fill_in` (an LLM client and the split the gates run on), custom parts are written by the LLM into
    the fixed slot and gated; the files then include "fill_report.json".
    """
    base = base_for(spec, cfg)
    spec = fidelity_checked(spec, str(cfg.get("fidelity") or "strict"), filling=fill_in is not None)
    check_custom(spec, base, filling=fill_in is not None)
    spec = with_custom_block(spec, base)
    base = with_custom_rule(spec, base)
    if not (spec.custom and fill_in is not None):
        check_renderable(spec, base)
        return render_files(spec, cfg, base, {})
    check_renderable(spec, base, filling=True)
    from paper_autotrain.stages.render.fill import SlotJob, fill_parts  # the LLM and gates load only for custom parts

    env = template_environment(cfg)
    slots = custom_slots(spec, base)
    jobs = [SlotJob(part=slot.name, prompt=slot_prompt(env, spec, slot, slots, base),
                    class_source=lambda fill, slot=slot: render_slot(env, slot, fill)) for slot in slots]
    if base.candidate_metric and fill_in.candidates.count > 1:  # e.g. AUC for CTR drafts, not a ranking metric
        fill_in = replace(fill_in, candidates=replace(fill_in.candidates, metric=base.candidate_metric))
    fills, report = fill_parts(jobs, lambda fills: render_files(spec, cfg, base, fills), fill_in)
    files = render_files(spec, cfg, base, fills)
    return {**files, "fill_report.json": json.dumps(report, indent=2) + "\n"}


def render_files(spec: MethodSpec, cfg: Mapping, base: Base, fills: Mapping[str, SlotFill]) -> dict[str, str]:
    """The three files, custom parts taken from `fills` (their code as the LLM wrote it)."""
    env = template_environment(cfg)
    context = build_context(spec, cfg, base)
    slots = custom_slots(spec, base)
    context["custom_classes"] = [render_slot(env, slot, fills[slot.name]) for slot in slots]
    context["slot_imports"] = slot_imports([fills[slot.name] for slot in slots])
    sections = render_sections(env, spec.architecture, {**context, "custom_parts": slots}, base)
    init_args = sections.pop("init_args")
    loss_method = (env.get_template(f"losses/{trained_loss(spec)}.j2").render(sections=sections).strip("\n")
                   if base.loss_template else "")
    model_py = env.get_template(base.template).render(
        **context, sections=sections, init_args=init_args, loss_method=loss_method,
    )
    return {
        "model.py": normalise_text(model_py),
        "config.yaml": normalise_text(env.get_template("config.yaml.j2").render(**context)),
        "README.md": normalise_text(env.get_template("README.md.j2").render(**context)),
    }


def templates_dir(cfg: Mapping | None = None) -> Path:
    """cfg["templates_dir"] when set, else the package's templates/ (paths.TEMPLATES_DIR)."""
    configured = (cfg or {}).get("templates_dir")
    return Path(configured) if configured else TEMPLATES_DIR


def templates_fingerprint(cfg: Mapping | None = None) -> str:
    """Content hash of every template and manifest, for stage manifests."""
    digest = hashlib.sha256()
    root = templates_dir(cfg)
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".j2", ".yaml")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# --- checks ----------------------------------------------------------------------------------------

def fidelity_checked(spec: MethodSpec, mode: str, filling: bool) -> MethodSpec:
    """A partial spec is refused (strict), or built without its missing parts and labelled an approximation
    (allow_partial); with the LLM fill-in its missing parts are custom parts the LLM writes."""
    if mode not in FIDELITY_MODES:
        raise StageError(f"render: fidelity={mode} is not a mode; choose one of {', '.join(FIDELITY_MODES)}")
    if not spec.approximation or (filling and spec.custom):
        return spec
    missing = ", ".join(spec.fidelity.missing) if spec.fidelity else ""
    if mode == "strict":
        raise StageError(f"render: {spec.display_name} is not fully built by the block library (not built: "
                         f"{missing}); no model is claimed as the paper's. Use the LLM fill-in (llm=openai, or "
                         "llm=compatible llm.base_url=...) to write the missing parts, or fidelity=allow_partial to "
                         "build the rest and label every output an approximation")
    if not spec.architecture:
        raise StageError(f"render: fidelity=allow_partial, but no part of {spec.display_name}'s method is built by a "
                         f"library block (not built: {missing}); there is nothing to approximate")
    return spec.model_copy(update={"custom": []})  # the approximation: the built blocks, the missing parts left out


def check_renderable(spec: MethodSpec, base: Base, filling: bool = False) -> None:
    """Refuse, naming the part, anything no template covers (never replace it silently).

    `filling`: the custom parts are about to be written by the LLM fill-in, so only their slot must exist.
    """
    check_custom(spec, base, filling)
    check_slot_composition(spec, base)
    if spec.task not in base.tasks:
        raise StageError(f"render: task {spec.task!r} has no {spec.family} template (only {', '.join(base.tasks)})")
    if trained_loss(spec) not in base.losses:
        raise StageError(f"render: loss {spec.trained_loss!r} has no {spec.family} template "
                         f"(known: {', '.join(base.losses)})")
    names = [block.block for block in spec.architecture]
    unknown = [name for name in names if name not in base.blocks]
    if unknown:
        raise StageError(f"render: block {unknown[0]!r} has no {spec.family} template "
                         f"(known: {', '.join(base.blocks)})")
    check_composition(names, base.blocks)
    for block in spec.architecture:
        check_block_params(block, base.blocks[block.block])


def check_custom(spec: MethodSpec, base: Base, filling: bool) -> None:
    names = ", ".join(part.name for part in spec.custom)
    if spec.custom and not base.fill_slot:
        raise StageError(f"render: spec.custom has parts no template covers ({names}); a {spec.family} model has "
                         "no fill-in slot for them (its family.yaml lists no `slots`)")
    if spec.custom and not filling:
        raise StageError(f"render: spec.custom has parts no template covers ({names}); {NEEDS_FILL_IN}")
    has_block = any(block.block == CUSTOM_BLOCK for block in spec.architecture)
    if has_block and not spec.custom:
        raise StageError("render: the architecture has a custom block but spec.custom lists no part for it")
    keys = [slot_key(part.name) for part in spec.custom]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise StageError(f"render: two custom parts are both named {twice[0]!r}")


def check_composition(names: list[str], blocks: Mapping[str, BlockRule]) -> None:
    if not names:
        raise StageError("render: spec.architecture is empty")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StageError(f"render: block {duplicates[0]!r} appears more than once")
    scorers = [name for name in names if blocks[name].scorer]
    if len(scorers) != 1 or names[-1] != scorers[0]:
        known = " or ".join(name for name, rule in blocks.items() if rule.scorer)
        raise StageError("render: the architecture must end with exactly one scoring block "
                         f"({known}), got {' -> '.join(names)}")
    for position, name in enumerate(names):
        before = names[:position]
        available = {*before, *(role for earlier in before for role in blocks[earlier].provides)}
        missing = [need for need in blocks[name].needs_before if need not in available]
        if missing:
            raise StageError(f"render: block {name!r} needs {', '.join(missing)} before it")
    roles = [role for name in names for role in blocks[name].provides]
    twice = sorted({role for role in roles if roles.count(role) > 1})
    if twice:
        raise StageError(f"render: more than one block provides the {twice[0]} ({' -> '.join(names)})")


def check_block_params(block: Block, rule: BlockRule) -> None:
    """The words a block's template renders: its structural words' and word-valued parameters' choices."""
    choices = {**rule.word_choices, **{param.block_param: param.choices for param in rule.params if param.choices}}
    for word, known in choices.items():
        if word in block.params and str(block.params[word]).lower() not in known:
            raise StageError(f"render: {block.block} {word}={block.params[word]!r} has no template "
                             f"(known: {', '.join(known)})")


# --- context ---------------------------------------------------------------------------------------

def template_environment(cfg: Mapping) -> jinja2.Environment:
    root = templates_dir(cfg)
    if not (root / "model.py.j2").exists():
        raise StageError(f"render: no templates in {root} (set templates_dir)")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["yaml"] = yaml_scalar
    return env


def trained_loss(spec: MethodSpec) -> str:
    """The loss the generated model trains with: a block's own loss where it stands for the spec's (CML's metric
    hinge for `other`), else the paper's, or the family's stand-in for an "other" loss."""
    owned = block_loss(spec)
    if owned:
        return owned
    return STAND_IN_LOSSES.get(spec.family, spec.trained_loss) if spec.trained_loss == "other" else spec.trained_loss


def block_loss(spec: MethodSpec) -> str | None:
    """The loss template a block of the architecture trains when the spec's loss is one it stands for (`trains`
    in its manifest), else None."""
    try:
        blocks = base_for(spec).blocks
    except (StageError, KeyError):
        return None
    rules = [blocks[block.block] for block in spec.architecture if block.block in blocks]
    # a block fitted once (its own loss is its fit: EASE) trains no loss whatever the spec's: its fit is its objective
    return next((rule.trains for rule in rules
                 if rule.trains and (spec.trained_loss in rule.trains_for or rule.fitted_once)), None)


def build_context(spec: MethodSpec, cfg: Mapping, base: Base) -> dict[str, Any]:
    model_params, param_rows, notes = resolve_block_params(spec, base.blocks)
    # a block of another regime: fitted once (EASE: its regime's base class, no optimiser) or reading other data
    # (DIN's behaviour sequences: the behaviour regime's split)
    block_regime = own_regime(spec, base)
    fitted = fitted_once(block_regime)
    # only what the regime's training reads: a fit reads no optimiser (iALS's "optimizer: als" is its fit), batches
    # or epochs (iALS's sweeps are its block's)
    reads = regime(block_regime or base.train_regime or base.regime).training_hyperparameters
    sampled = not any(base.blocks[block.block].trains_own_batches(spec.trained_loss)
                      for block in spec.architecture if block.block in base.blocks)
    optim, optim_rows = resolve_optim(spec, sampled, reads)
    trainer, epoch_row = resolve_trainer(spec, cfg, by_epochs="epochs" in reads)
    epoch_rows = [epoch_row] if "epochs" in reads else []
    rows = param_rows + optim_rows + epoch_rows
    composition = " -> ".join(block.block for block in spec.architecture)
    loss = trained_loss(spec)
    if loss == block_loss(spec):
        owner = next(block.block for block in spec.architecture if base.blocks[block.block].trains == loss)
        notes = [*notes, f"the paper's own objective (spec loss: {spec.loss}) is the {owner} block's `{loss}` loss"]
    elif loss != spec.trained_loss:
        notes = [*notes, f"the paper's loss is not one the {spec.family} templates know (spec loss: {spec.loss}); "
                         f"trained with the family's stand-in `{loss}` instead. Edit `loss` in spec.yaml to change it"]
    base_class = regime(block_regime).base_module.partition(":")[2] if block_regime else base.module
    imports = {base_class, base.split_type, *base.losses[loss]}
    if activation_module(spec).startswith("Dice("):
        imports.add("Dice")
    if base.loss_template and not fitted:
        imports.add("make_optimizer")
    for block in spec.architecture:
        imports.update(base.blocks[block.block].imports)
    custom_args: list[str] = []
    if any(block.block == CUSTOM_BLOCK for block in spec.architecture):
        custom_values, custom_args, custom_rows = custom_context(spec, base)
        model_params.update(custom_values)
        rows = param_rows + custom_rows + optim_rows + epoch_rows
    context = {
        "model_name": spec.display_name, "class_name": class_name(spec.display_name), "loss": loss,
        "composition": composition, "paper_key": spec.paper.key, "paper_title": spec.paper.title,
        "arxiv_id": spec.paper.arxiv_id, "model_params": model_params, "optim": optim,
        "trainer": trainer, "base_module": base.module, "split_type": base.split_type,
        "base_class": base_class, "fitted": fitted,
        "data": {"regime": block_regime or base.train_regime or base.regime, **DATA_DEFAULTS,
                 **known_keys(cfg.get("data"), tuple(DATA_DEFAULTS))},
        "hp_rows": [markdown_row(row) for row in rows], "notes": notes,
        "runtime_import": from_import("paper_autotrain.runtime", imports),
        "activation_module": activation_module(spec),
        "head": spec.architecture[-1].block if spec.architecture else "",  # how a context model combines parts
        "slot_imports": slot_imports([]), "custom_classes": [], "custom_args": custom_args,
        "custom_part_params": "custom_params" in model_params,
        "approximation": spec.fidelity.label if spec.approximation and spec.fidelity else "",
        "components": [c.model_dump() for c in spec.fidelity.components] if spec.fidelity else [],
        "deviations": [d.model_dump() for d in spec.fidelity.deviations] if spec.fidelity else [],
        "reference": spec.reference,
    }
    context["every_position"] = trains_every_position(spec, base)
    if context["every_position"]:  # windows train ~20-40x faster per epoch but converged lower on ML-100K SASRec
        context["data"] = {**context["data"], "train_positions": "prefixes"}  # (0.0507 vs 0.0630): opt in
    context["docstring"] = module_docstring(spec, composition, rows, notes)
    return context


def own_regime(spec: MethodSpec, base: Base) -> str | None:
    """The data regime a block of the architecture trains in when it is not the scaffold's (manifest `regime`).
    A block with its own loss (ENMF's user batches for its whole-data loss) names its regime for that loss only:
    trained with another (a hand-edited BPR), the model takes the scaffold's batches of pairs and negatives."""
    rules = [base.blocks[block.block] for block in spec.architecture if block.block in base.blocks]
    return next((rule.regime for rule in rules if rule.regime and (rule.fitted_once or not rule.trains
                                                                     or rule.trains == trained_loss(spec))), None)


def trains_every_position(spec: MethodSpec, base: Base) -> bool:
    """A sequential model with a causal encoder read at the last position: it can score every position at once."""
    names = {block.block for block in spec.architecture}
    if CUSTOM_BLOCK in names:  # an LLM-written part need not be causal: it trains on prefixes
        return False
    return base.regime == "sequential" and LAST_POSITION in names and any(base.blocks[name].causal for name in names)


def resolve_block_params(spec: MethodSpec, rules: Mapping[str, BlockRule]
                         ) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """Config values of every block parameter, their provenance rows, and notes on ignored extras."""
    values: dict[str, Any] = {}
    rows: list[dict[str, str]] = []
    notes: list[str] = []
    for block in spec.architecture:
        rule = rules[block.block]
        given = block.params
        for param in rule.params:
            value, row = resolved_param(spec, block, param)
            values[param.key] = value
            rows.append(row)
        known = {p.block_param for p in rule.params} | set(rule.allowed_extra)
        for extra in sorted(set(given) - known):
            notes.append(f"block {block.block}: parameter {extra}={given[extra]!r} is not used by the "
                         "template")
    return values, rows, notes


def resolved_param(spec: MethodSpec, block: Block, param: BlockParam) -> tuple[Any, dict[str, str]]:
    """The value (the library's order: user override, block parameter, hyperparameter, manifest default), coerced
    and checked against the manifest's range, and its provenance row."""
    found = resolve_param(spec, block, param)
    what = f"{block.block}.{param.block_param}"
    value = coerce(found.value, param.kind, what)
    items = value if isinstance(value, list) else [value]
    if param.range is not None and not all(in_range(item, param.range) for item in items):
        fix = f" or with +hparams.{param.hyperparameter}=..." if param.hyperparameter else ""
        raise StageError(f"render: {what}={found.value!r} is out of range ({describe_range(param.range)}); fix it "
                         f"in spec.yaml{fix}")
    return value, {"name": param.key, "value": value, "source": found.source, "evidence": found.evidence}


# the optimisers the runtime builds (runtime.losses.OPTIMIZERS' keys; render stays torch-free)
TRAINED_OPTIMIZERS = ("adam", "sgd", "adagrad", "rprop", "rmsprop")


def resolve_optim(spec: MethodSpec, sampled: bool = True, reads: tuple[str, ...] = TRAINING_HYPERPARAMETERS
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """config.yaml's optim values and their rows, of the ones the regime's training `reads` (a fit: none);
    `sampled` False: the model samples no negatives (ENMF's own loss on its user batches), so negative_samples is
    neither written nor listed."""
    values: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    kinds = {"optimizer": str, "learning_rate": float, "batch_size": int, "l2_reg": float,
             "negative_samples": int}
    for name, default in OPTIM_DEFAULTS:
        if name not in reads or (name == "negative_samples" and not sampled):
            continue
        entry = spec.hyperparameters.get(name)
        raw = default if entry is None else entry.value
        value = coerce(raw, kinds[name], name)
        if name == "optimizer":
            value = value.lower()
            if value not in TRAINED_OPTIMIZERS:
                raise StageError(f"render: optimizer {raw!r} has no template ({', '.join(TRAINED_OPTIMIZERS)})")
        values[name] = value
        rows.append(hp_row(name, value, entry))
    settings = {key: spec.hyperparameters[key] for key in OPTIMIZER_SETTINGS.get(values.get("optimizer", ""), ())
                if key in spec.hyperparameters}
    if settings:  # the paper's own settings of its optimiser (RMSProp's decay and momentum); torch's otherwise
        values["optimizer_settings"] = {key: coerce(entry.value, float, key) for key, entry in settings.items()}
        rows += [hp_row(key, values["optimizer_settings"][key], entry) for key, entry in settings.items()]
    if reads and spec.trained_loss in LOSS_HYPERPARAMETERS:  # a loss's own weight (BPR-max's score regularisation)
        name, default = LOSS_HYPERPARAMETERS[spec.trained_loss]
        entry = spec.hyperparameters.get(name)
        values[name] = coerce(default if entry is None else entry.value, float, name)
        rows.append(hp_row(name, values[name], entry))
    return values, rows


def resolve_trainer(spec: MethodSpec, cfg: Mapping, by_epochs: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """config.yaml's trainer section and the epochs' row; `by_epochs` False (a fit): no max_epochs or patience
    written, nothing trains by epochs."""
    entry = spec.hyperparameters.get("epochs")
    epochs = coerce(entry.value, int, "epochs") if entry is not None else DEFAULT_MAX_EPOCHS
    trainer = {"max_epochs": epochs, **TRAINER_DEFAULTS, **known_keys(cfg.get("trainer"), TRAINER_KEYS)}
    if not by_epochs:
        trainer = {key: value for key, value in trainer.items() if key not in EPOCH_KEYS}
    return trainer, hp_row("epochs (trainer.max_epochs)", epochs, entry)


def known_keys(section: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The listed keys of a cfg section (a dict or an OmegaConf node), as plain Python values."""
    if not section:
        return {}
    return {key: plain(section[key]) for key in keys if key in section and section[key] is not None}


def plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ListConfig":
        return [plain(v) for v in value]
    return value


def hp_row(name: str, value: Any, entry: Any) -> dict[str, Any]:
    if entry is None:
        return {"name": name, "value": value, "source": "template default (not in spec)", "evidence": ""}
    return {"name": name, "value": value, "source": entry.source, "evidence": entry.evidence or ""}


def coerce(raw: Any, kind: type | str, what: str) -> Any:
    """The value as the template needs it; StageError naming the field when it cannot be."""
    try:
        if kind == "int_list":
            items = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not items:
                raise ValueError("not a non-empty list")
            return [int(item) for item in items]
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError("not an integer")
        value = kind(raw)  # type: ignore[operator]
    except (TypeError, ValueError) as exc:
        raise StageError(f"render: {what}={raw!r} is not usable ({exc})") from None
    name = what.rsplit(".", 1)[-1]
    check = VALUE_RANGES.get(name)
    if check is not None and not check[0](value):
        raise StageError(f"render: {what}={raw!r} is out of range ({check[1]}); fix it in spec.yaml or with "
                         f"+hparams.{name}=...")
    return value


# Values no model can train with, whoever wrote them (the paper's text, a hand edit, +hparams)
VALUE_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "learning_rate": (lambda v: v > 0, "must be > 0"),
    "batch_size": (lambda v: v >= 1, "must be >= 1"),
    "negative_samples": (lambda v: v >= 1, "must be >= 1"),
    "l2_reg": (lambda v: v >= 0, "must be >= 0"),
    "epochs": (lambda v: v >= 1, "must be >= 1"),
    "dropout": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
}


def activation_module(spec: MethodSpec) -> str:
    for block in spec.architecture:
        if block.block == "mlp_tower":
            return ACTIVATIONS[str(block.params.get("activation", "relu")).lower()]
    return ACTIVATIONS["relu"]


def class_name(model_name: str) -> str:
    """A Python class name from the paper's model name ("MF-BPR" -> "MFBPR")."""
    words = re.findall(r"[A-Za-z0-9]+", model_name)
    name = "".join(word[:1].upper() + word[1:] for word in words) or "Model"
    return f"Model{name}" if name[0].isdigit() else name


def from_import(module: str, names: set[str]) -> str:
    """`from module import a, b` the way ruff's isort writes it (one name a line when too long)."""
    ordered = sorted(names, key=import_sort_key)
    line = f"from {module} import {', '.join(ordered)}"
    if len(line) <= 110:
        return line
    return f"from {module} import (\n" + "".join(f"    {name},\n" for name in ordered) + ")"


def import_sort_key(name: str) -> tuple[int, str]:
    """isort order within one `from x import a, b`: CONSTANTS, Classes, then functions."""
    if name.isupper():
        return 0, name
    return (1, name) if name[:1].isupper() else (2, name)


# --- custom parts: the fill-in slots ---------------------------------------------------------------

@dataclass(frozen=True)
class CustomSlot:
    """One custom part as the model code names it, and the slot it is written into."""

    name: str  # the spec's name of the part
    key: str  # its key in config.yaml's custom_hparams (and custom_params)
    attribute: str  # self.<attribute> in the model
    class_name: str
    description: str
    evidence: str
    slot: SlotRule  # its contract (templates/slots/<slot>.yaml)
    params: tuple[tuple[str, Any, dict[str, Any]], ...] = ()  # (config key, value, provenance row) of part_params

    @property
    def template(self) -> str:
        """The slot's model-side template, included by the scaffold's custom block for each part."""
        return self.slot.template


def part_slots(spec: MethodSpec, base: Base) -> list[SlotRule]:
    """The slot of each custom part (the one it names, else by the slots' cues, else the family's first)."""
    return [slot_for(base, part.name, part.description, part.slot) for part in spec.custom]


def with_custom_block(spec: MethodSpec, base: Base) -> MethodSpec:
    """The spec with a `custom` block where its custom parts act: as written; else right after the blocks a part's
    slot names in `after`, else before the scoring block; the family's custom_architecture when the spec names no
    block. When a part scores (a scorer slot), the custom block is the scorer: last, in place of the template one."""
    names = [block.block for block in spec.architecture]
    if not spec.custom or not base.fill_slot:
        return spec
    slots = part_slots(spec, base)
    architecture = list(spec.architecture)
    if CUSTOM_BLOCK in names:
        pass
    elif not names:
        architecture = [Block(block=name) for name in base.custom_architecture]
    else:
        after = [names.index(name) for slot in slots for name in slot.after if name in names]
        position = max(after) + 1 if after else len(names) - 1
        architecture.insert(position, Block(block=CUSTOM_BLOCK))
    if any(slot.scorer for slot in slots):
        rules = base.blocks
        custom = next((block for block in architecture if block.block == CUSTOM_BLOCK), Block(block=CUSTOM_BLOCK))
        architecture = [block for block in architecture if block.block != CUSTOM_BLOCK
                        and not (block.block in rules and rules[block.block].scorer)] + [custom]
    return spec.model_copy(update={"architecture": architecture})


def with_custom_rule(spec: MethodSpec, base: Base) -> Base:
    """The scaffold with its `custom` block's manifest joined with the slots of the spec's parts."""
    if not spec.custom or CUSTOM_BLOCK not in base.blocks:
        return base
    return replace(base, blocks={**base.blocks, CUSTOM_BLOCK: custom_rule(base, part_slots(spec, base))})


def check_slot_composition(spec: MethodSpec, base: Base) -> None:
    """One part at most in a slot that scores or provides a role; a slot's output fits the model's scorer."""
    if not spec.custom or not base.fill_slot:
        return
    slots = part_slots(spec, base)
    for slot in {slot.name: slot for slot in slots}.values():
        parts = [part.name for part, of in zip(spec.custom, slots, strict=True) if of.name == slot.name]
        if slot.single and len(parts) > 1:
            raise StageError(f"render: custom parts {', '.join(parts)} are all in slot {slot.name}, which takes one "
                             f"part (it {'scores' if slot.scorer else 'provides the ' + ', '.join(slot.provides)})")
        scorer = spec.architecture[-1].block if spec.architecture else ""
        if slot.with_scorer and scorer not in slot.with_scorer:
            raise StageError(f"render: custom part {parts[0]!r} (slot {slot.name}) gives a term the "
                             f"{' or '.join(slot.with_scorer)} scorer sums; this model ends in {scorer!r}")


def slot_key(name: str) -> str:
    """A Python identifier for a part's name: "Layer attention" -> "layer_attention" (cut at a word when long)."""
    key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "part"
    if len(key) > SLOT_KEY_LENGTH:
        key = key[:SLOT_KEY_LENGTH + 1].rsplit("_", 1)[0] or key[:SLOT_KEY_LENGTH]
    return f"part_{key}" if key[0].isdigit() else key


def custom_slots(spec: MethodSpec, base: Base) -> list[CustomSlot]:
    model_class = class_name(spec.display_name)
    slots = []
    for part, slot in zip(spec.custom, part_slots(spec, base), strict=True):
        key = slot_key(part.name)
        name = f"Custom{class_name(key)}"
        slots.append(CustomSlot(
            name=part.name, key=key, attribute=f"custom_{key}",
            class_name=f"{name}Part" if name == model_class else name, description=part.description,
            evidence=part.evidence or "", slot=slot, params=part_param_values(spec, part, key, slot),
        ))
    return slots


def part_param_values(spec: MethodSpec, part: CustomPart, key: str, slot: SlotRule
                      ) -> tuple[tuple[str, Any, dict[str, Any]], ...]:
    """Each of the slot's part parameters for this part: the part's own value, else the hyperparameter it reads,
    else the manifest default; coerced and range-checked like a block parameter."""
    values = []
    for param in slot.part_params:
        what = f"custom part {part.name!r}: {param.block_param}"
        entry = spec.hyperparameters.get(param.hyperparameter) if param.hyperparameter else None
        if param.block_param in part.params:
            found = Resolved(part.params[param.block_param], "spec custom part parameter, no quote", "")
        elif entry is not None:
            found = Resolved(entry.value, entry.source, entry.evidence or "")
        else:
            found = Resolved(param.default, f"default (slot {slot.name}; not in spec)", "")
        value = coerce(found.value, param.kind, what)
        if param.range is not None and not in_range(value, param.range):
            raise StageError(f"render: {what}={found.value!r} is out of range ({describe_range(param.range)}); "
                             "fix it in spec.yaml")
        row = {"name": f"custom_params.{key}.{param.key}", "value": value, "source": found.source,
               "evidence": found.evidence}
        values.append((param.key, value, row))
    unknown = sorted(set(part.params) - {param.block_param for param in slot.part_params})
    if unknown:
        raise StageError(f"render: custom part {part.name!r} sets {unknown[0]!r}, which its slot {slot.name} does not "
                         f"read (its parameters: {', '.join(p.block_param for p in slot.part_params) or 'none'})")
    return tuple(values)


def custom_context(spec: MethodSpec, base: Base) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """config.yaml's custom_hparams (and custom_params), the custom block's constructor arguments, and the
    provenance rows of the parts' parameters."""
    slots = custom_slots(spec, base)
    hparams = part_hparams(spec)
    values: dict[str, Any] = {"custom_hparams": {slot.key: hparams for slot in slots}}
    args = ["custom_hparams: dict[str, dict[str, Any]]"]
    if any(slot.params for slot in slots):
        values["custom_params"] = {slot.key: {name: value for name, value, _ in slot.params}
                                   for slot in slots if slot.params}
        args.append("custom_params: dict[str, dict[str, Any]]")
    rule = base.blocks[CUSTOM_BLOCK]
    args += [f"{param.key}: {ANNOTATIONS[param.kind]}" for param in rule.params]
    rows = [row for slot in slots for _, _, row in slot.params]
    return values, args, rows


ANNOTATIONS: dict[type | str, str] = {int: "int", float: "float", str: "str", bool: "bool", "int_list": "list[int]"}


def part_hparams(spec: MethodSpec) -> dict[str, Any]:
    """What a custom part is given as **hparams: the spec's model settings (not the training ones)."""
    return {key: plain(entry.value) for key, entry in sorted(spec.hyperparameters.items())
            if key not in TRAINING_KEYS and entry.value is not None}


def render_slot(env: jinja2.Environment, slot: CustomSlot, fill: SlotFill) -> str:
    """The class of one custom part: its slot's fixed class around the LLM's two bodies."""
    contract = slot.slot
    init = [f"{arg.name}: {arg.annotation}" for arg in contract.init]
    inputs = [f"{arg.name}: {arg.annotation}" for arg in contract.inputs]
    returns = ("torch.Tensor" if len(contract.outputs) == 1
               else f"tuple[{', '.join('torch.Tensor' for _ in contract.outputs)}]")
    sizes = contract.constructor_sizes()
    text = env.get_template(SLOT_TEMPLATE).render(
        part=slot, doc_lines=slot_docstring(slot), contract_lines=contract_lines(contract),
        init_args=signature_lines(["self", *init, "**hparams: Any"]), forward_args=signature_lines(["self", *inputs]),
        returns=returns, forward_doc=forward_docstring(contract),
        sizes="{" + ", ".join(f'"{name}": {name}' for name in sizes) + "}" if sizes else "",
        init_body=indented_body(fill.init_body, allow_empty=True), forward_body=indented_body(fill.forward_body),
    )
    return normalise_text(text).rstrip("\n")


def signature_lines(args: list[str]) -> list[str]:
    """A signature's arguments on one line (8 spaces in), or one a line when that is too long."""
    line = ", ".join(args)
    return [line] if len(line) + 8 <= LINE_WIDTH else [f"{arg}," for arg in args]


def shape_text(arg: SlotArg) -> str:
    return "[" + ", ".join(arg.shape or ()) + "]"


def forward_docstring(contract: SlotRule) -> list[str]:
    """forward's docstring lines: its inputs' and outputs' shapes."""
    def listed(args: tuple[SlotArg, ...]) -> str:
        return ", ".join(f"{arg.name} {shape_text(arg)}" if arg.shape is not None else arg.name for arg in args)
    lines = wrap(f"{listed(contract.inputs)} -> {listed(contract.outputs)}.")
    body = safe_docstring_text("\n".join(lines)).splitlines()
    body[0] = '"""' + body[0]
    body[-1] += '"""' if len(body) == 1 else ""
    return body if len(body) == 1 else [*body, '"""']


def contract_lines(contract: SlotRule) -> list[str]:
    """The class attributes the shape gate reads (worker/slot_shapes.py): the slot, its inputs' and outputs' shapes."""
    def shape_literal(shape: tuple[str, ...] | None) -> str:
        if shape is None:
            return "None"
        return "(" + ", ".join(json.dumps(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"

    lines = [f'SLOT = "{contract.name}"  # its contract: templates/slots/{contract.name}.yaml (checked on each call)']
    for name, args in (("INPUTS", contract.inputs), ("OUTPUTS", contract.outputs)):
        entries = [f"{json.dumps(arg.name)}: {shape_literal(arg.shape)}" for arg in args]
        line = f"{name} = {{{', '.join(entries)}}}"
        lines += [line] if len(line) + 4 <= LINE_WIDTH else [f"{name} = {{", *(f"    {e}," for e in entries), "}"]
    return lines


def slot_docstring(slot: CustomSlot) -> list[str]:
    lines = wrap(f"Custom part `{slot.name}`: {slot.description}")
    if slot.evidence:
        lines += [""] + wrap(f"Paper: {slot.evidence}")
    lines += [""] + wrap(f"Written by the LLM fill-in into the fixed slot `{slot.slot.name}`; the gates it passed are "
                         "in fill_report.json.")
    body = safe_docstring_text("\n".join(lines)).splitlines()
    body[0] = '"""' + body[0]
    return [*body, '"""']


def indented_body(code: str, allow_empty: bool = False) -> str:
    """The LLM's body, dedented and indented into the method (8 spaces)."""
    code = textwrap.dedent(code.expandtabs(4)).strip("\n")
    if not code.strip():
        code = "" if allow_empty else "raise NotImplementedError  # the fill-in gave no body"
    return textwrap.indent(code, " " * 8) if code else ""


def slot_imports(fills: list[SlotFill]) -> dict[str, bool]:
    """Modules the model imports only when a part's code uses them (ruff flags unused imports)."""
    code = "\n".join(f"{fill.init_body}\n{fill.forward_body}" for fill in fills)
    return {"math": bool(re.search(r"\bmath\.", code)), "functional": bool(re.search(r"(?<![\w.])F\.", code))}


def slot_prompt(env: jinja2.Environment, spec: MethodSpec, slot: CustomSlot, slots: list[CustomSlot], base: Base
                ) -> dict[str, Any]:
    """What the fill-in prompts are told about the part, the model around it and its slot's contract (from the
    slot's manifest)."""
    from paper_autotrain.stages.render.fill import SlotFill

    placeholder = SlotFill(init_body="# <init_body: your code>", forward_body="# <forward_body: your code>")
    params, _, _ = resolve_block_params(spec, base.blocks)
    contract = slot.slot
    composition = " -> ".join(block.block for block in spec.architecture)
    notes = env.from_string(contract.notes).render(loss=trained_loss(spec), composition=composition)

    def args(items: tuple[SlotArg, ...]) -> list[dict[str, Any]]:
        return [{"name": arg.name, "about": arg.about, "shape": None if arg.shape is None else shape_text(arg)}
                for arg in items]
    return {
        "model_name": spec.display_name, "paper_title": spec.paper.title, "family": spec.family,
        "composition": composition,
        "part": {"name": slot.name, "description": slot.description, "evidence": slot.evidence,
                 "class_name": slot.class_name},
        "other_parts": [{"name": other.name, "description": other.description} for other in slots
                        if other.name != slot.name],
        "slot": render_slot(env, slot, placeholder), "dim": params.get(contract.dim) if contract.dim else None,
        "contract": {"name": contract.name, "kind": contract.kind, "description": contract.description,
                     "init": args(contract.init), "inputs": args(contract.inputs), "outputs": args(contract.outputs),
                     "symbols": dict(contract.symbols), "notes": notes,
                     "weight": dict((name, value) for name, value, _ in slot.params).get("weight")},
        "hparams": part_hparams(spec), "loss": trained_loss(spec),
    }


# --- sections and text -----------------------------------------------------------------------------

def render_sections(env: jinja2.Environment, blocks: list[Block], context: Mapping[str, Any],
                    base: Base) -> dict[str, list]:
    """Each section's code from each block template, in architecture order."""
    sections: dict[str, list[str]] = {name: [] for name in base.sections}
    encodes: list[tuple[str, str]] = []  # each block's (encode, batch_encode) code
    for block in blocks:
        template = env.get_template(f"{base.blocks_folder}/{block.block}.j2")
        parts = {section: template.render(**context, section=section, block_params=block.params).strip("\n").rstrip()
                 for section in base.sections}
        encodes.append((parts.get("encode", ""), parts.get("batch_encode", "")))
        for section, text in parts.items():
            if not text.strip():
                continue
            if section == "args":
                sections[section].extend(line.strip() for line in text.splitlines() if line.strip())
            elif section != "batch_encode":
                sections[section].append(text)
    if "batch_encode" in sections:
        sections["batch_encode"] = batch_encode_parts(encodes, has_loss_parts=bool(sections.get("loss")))
    # a block fitted once scores through its base class (x_u W), its template writing only the fit
    if not sections["score" if "score" in sections else "table"] and not context.get("fitted"):
        raise StageError("render: no block provides a score")
    return {"init_args": sections.pop("args"), **sections}


def batch_encode_parts(encodes: list[tuple[str, str]], has_loss_parts: bool) -> list[str]:
    """The body of model.py.j2's `batch_state`: the blocks' encode code up to the one block that computes its state
    for a training batch's users and items alone (its batch_encode code in place of its encode). [] (the base class's
    batch_state: the whole encode) when no block does, when two do, when a block after it transforms the state
    (its encode would get the batch's rows only), or when a loss part reads the whole state."""
    restricting = [n for n, (_, batch) in enumerate(encodes) if batch.strip()]
    if len(restricting) != 1 or has_loss_parts:
        return []
    first = restricting[0]
    if any(encode.strip() for encode, _ in encodes[first + 1:]):
        return []
    return [encode for encode, _ in encodes[:first] if encode.strip()] + [encodes[first][1]]


def module_docstring(spec: MethodSpec, composition: str, rows: list[dict[str, Any]], notes: list[str]) -> str:
    paper = spec.paper
    title = paper.title or spec.display_name
    cite = f"`{paper.key}`"
    details = [part for part in (f"arXiv {paper.arxiv_id}" if paper.arxiv_id else "",
                                 ", ".join(paper.authors[:3]) + (" et al." if len(paper.authors) > 3 else ""),
                                 str(paper.year) if paper.year else "") if part]
    if details:
        cite += f" ({'; '.join(details)})"
    heading = title if title.lower().startswith(spec.display_name.lower()) else f"{spec.display_name}: {title}"
    lines = [heading.rstrip(".") + ".", ""]
    if spec.approximation and spec.fidelity:
        lines += wrap(f"{spec.fidelity.label}. This is NOT the paper's model: the parts named are not built "
                      "(fidelity=allow_partial).") + [""]
    lines += wrap(f"Generated by paper_autotrain from the MethodSpec of paper {cite}. Re-render from "
                  "spec.yaml instead of editing; change values in config.yaml or with --set.")
    lines += ["", f"Architecture: {composition}; loss: {spec.trained_loss}.", "",
              "Hyperparameters (read from config.yaml at run time; value, source, evidence):"]
    for row in rows:
        evidence = f' "{row["evidence"]}"' if row["evidence"] else ""
        lines += wrap(f"- {row['name']} = {row['value']} [{row['source']}]{evidence}", indent="  ")
    if spec.fidelity and spec.fidelity.deviations:
        lines += ["", "Deviations from the paper:"]
        for deviation in spec.fidelity.deviations:
            lines += wrap(f"- {deviation.component}: the paper: \"{deviation.paper}\"; ours: {deviation.ours}",
                          indent="  ")
    if notes:
        lines += ["", "Notes:"]
        for note in notes:
            lines += wrap(f"- {note}", indent="  ")
    body = "\n".join(lines)
    return '"""' + safe_docstring_text(body) + '\n"""'


def wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width=DOC_WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [""]


def safe_docstring_text(text: str) -> str:
    """Keep quoted evidence inert inside a triple-quoted docstring."""
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    return text.replace("\\", "\\\\").replace('"""', "'''")


def markdown_row(row: Mapping[str, Any]) -> dict[str, str]:
    def cell(value: Any) -> str:
        return " ".join(str(value).split()).replace("|", "\\|")
    return {key: cell(value) for key, value in row.items()}


def yaml_scalar(value: Any) -> str:
    """A YAML flow value that PyYAML reads back as the same Python value."""
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_scalar(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(key))}: {yaml_scalar(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def normalise_text(text: str) -> str:
    """No trailing spaces, exactly one final newline (ruff W291/W292/W391)."""
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n") + "\n"
