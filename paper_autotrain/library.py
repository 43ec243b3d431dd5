"""The block library, read from its manifests in templates/: the one registry render and extract share.

A *scaffold* is a folder holding `family.yaml` (the model template, runtime base class, code sections and losses
of the spec families it builds, and their defaults for what a paper leaves open) and `blocks/`, where each block
is a template `<name>.j2` beside its manifest `<name>.yaml` (what it computes, its parameters and the
hyperparameters they read, what it needs before it, its runtime imports). The top-k scaffold is templates/ itself
(templates/family.yaml, templates/blocks/); its family.yaml lists the other scaffolds' folders.

A *slot* is where the LLM fill-in writes a custom part: `templates/slots/<slot>.yaml` (its contract: constructor
arguments, forward inputs and outputs with symbolic shapes, what it needs and provides like a block) beside
`<slot>.py.j2` (the model-side code that builds and calls the part, by section). A family.yaml lists its slots.

Read once per templates root (cached), checked on reading: a broken manifest is one ManifestError naming its file
and field. Torch-free and Jinja-free: extract and the RecBole references read it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from paper_autotrain.errors import StageError
from paper_autotrain.paths import TEMPLATES_DIR

if TYPE_CHECKING:
    from paper_autotrain.schemas import Block, HyperParameter, MethodSpec

FAMILY_FILE = "family.yaml"
# a block is <name>.j2 + <name>.yaml; suffixes, not "*.yaml" globs, which code_hash would read as naming package files
TEMPLATE_SUFFIX, MANIFEST_SUFFIX = ".j2", ".yaml"
CUSTOM_BLOCK = "custom"  # marks where the LLM fill-in's parts go; not a block a paper can name
PARAM_KINDS: dict[str, type | str] = {"int": int, "float": float, "int_list": "int_list", "str": str, "bool": bool}
NOT_IN_SPEC = "default (template; not in spec)"


class ManifestError(StageError):
    """A manifest the library cannot use; the message is one line naming the file and the field."""


# --- what the manifests say ------------------------------------------------------------------------

@dataclass(frozen=True)
class DefaultFrom:
    """A hyperparameter's default read from an element of another one (extract, when the paper leaves it open)."""

    hyperparameter: str
    """the list-valued hyperparameter the default is read from (e.g. mlp_layers)"""
    element: int
    """its element to take (-1: the last)"""


@dataclass(frozen=True)
class BlockParam:
    """One constructor/config key of a block, and where its value comes from."""

    key: str
    """the model constructor's and config.yaml's key (e.g. embedding_size)"""
    block_param: str
    """its name among the spec block's parameters (e.g. dim)"""
    hyperparameter: str | None
    """the spec hyperparameter it reads; None: only the block's own parameter sets it"""
    default: Any
    """the value when the spec gives none; extract's default for `hyperparameter` too (one value, one place)"""
    kind: type | str
    """what render coerces the value to: int, float, str, bool or "int_list\""""
    range: tuple[float | None, float | None] | None = None
    """inclusive [min, max] (None: open) of the value, of each element for an int_list"""
    choices: tuple[str, ...] = ()
    """the words the template renders (compared lower-case); empty: any value"""
    repeat: str | None = None
    """a hyperparameter counting copies: the value is [hyperparameter] * that count (at least one)"""
    default_from: DefaultFrom | None = None
    """where extract takes `hyperparameter`'s default from, when not from `default`"""


@dataclass(frozen=True)
class BlockRule:
    """One block of a scaffold: its manifest, read."""

    name: str
    """the block's name, its template's and manifest's file stem"""
    description: str
    """what it computes, for the extraction prompt (starts with the name)"""
    params: tuple[BlockParam, ...] = ()
    """its constructor/config keys"""
    allowed_extra: tuple[str, ...] = ()
    """structural words the spec's block may carry besides `params` (combine, activation, norm)"""
    word_choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """for the structural words render checks: the values the template renders"""
    needs_before: tuple[str, ...] = ()
    """blocks, or roles a block provides, that must come before it"""
    imports: tuple[str, ...] = ()
    """names from paper_autotrain.runtime its code uses"""
    scorer: bool = False
    """whether it scores (the architecture ends with exactly one scorer)"""
    provides: tuple[str, ...] = ()
    """roles later blocks may need instead of a block name (e.g. latent)"""
    causal: bool = False
    """a sequence encoder whose output at t reads items 0..t only: trainable at every position at once"""
    hyperparameter_defaults: Mapping[str, Any] = field(default_factory=dict)
    """hyperparameters the block needs that no param of it reads, with their defaults (Caser's window length)"""
    trains: str | None = None
    """the loss template (templates/losses/<trains>.j2) of the paper's own objective the block belongs to (CML's
    WARP-weighted metric hinge): the model trains with it when the spec's loss is one of `trains_for`"""
    trains_for: tuple[str, ...] = ()
    """the spec losses the block's own loss stands for (`other` for a loss no kind names; `bce` for a weighted
    likelihood that is still a log loss)"""
    regime: str | None = None
    """the data regime a model holding the block trains in when it is not its scaffold's (`fit`: EASE's closed
    form, fitted once on the train split instead of by epochs; `user_batches`: ENMF's batches of users, for its own
    loss only; paper_autotrain/regimes.py)"""

    @property
    def fitted_once(self) -> bool:
        """whether its own objective is solved by a fit on the train split (templates/losses/fit.j2: EASE, SLIM,
        ItemKNN, iALS) rather than by training steps: read from the manifest, so the reading stages need not import
        the regime table (regimes.py names the training code)"""
        return self.trains == "fit"

    def trains_own_batches(self, loss: str) -> bool:
        """whether a model trained with the spec loss `loss` takes this block's own loss on its own regime's batches
        (ENMF's whole-data loss on batches of users) instead of the scaffold's pairs with sampled negatives: then
        nothing reads negative_samples. A block fitted once takes no batches (its spec is left as it is)."""
        return bool(self.trains and self.regime and not self.fitted_once and loss in self.trains_for)

    def param(self, key: str) -> BlockParam | None:
        return next((param for param in self.params if param.key == key), None)


@dataclass(frozen=True)
class SlotArg:
    """One constructor argument, forward input or forward output of a slot: its name, shape and meaning."""

    name: str
    about: str
    """what it holds, for the fill-in prompt"""
    shape: tuple[str, ...] | None = None
    """symbolic sizes ("B", "L", "dim"; a leading "..." is any number of batch dimensions); None: not a tensor"""
    annotation: str = "torch.Tensor"
    """its type in the slot's signature"""


@dataclass(frozen=True)
class SlotRule:
    """One fill-in slot: its manifest templates/slots/<name>.yaml, read. A custom part written into it is a block
    whose body the LLM writes: the same contract (needs, provides, parameters) as a template block."""

    name: str
    """the slot's name, its manifest's and template's file stem"""
    description: str
    """what a part in it computes (starts with the name)"""
    kind: str
    """what the part is (representation, scorer, sequence_encoder, interaction, encoder, loss_term); a part's `slot`
    may name the kind instead of the slot"""
    template: str
    """the model-side code building and calling the part, by section (slots/<name>.py.j2)"""
    init: tuple[SlotArg, ...]
    """__init__'s arguments before **hparams"""
    inputs: tuple[SlotArg, ...]
    """forward's arguments"""
    outputs: tuple[SlotArg, ...]
    """what forward returns (a tuple when more than one)"""
    symbols: Mapping[str, str] = field(default_factory=dict)
    """the shape symbols that are no constructor argument, and what they mean"""
    notes: str = ""
    """how the model uses the part, for the prompt (Jinja: loss, composition)"""
    dim: str | None = None
    """the model's config key whose value the constructor's `dim` is"""
    cues: tuple[str, ...] = ()
    """words of a part's name or description that choose this slot when the part names none"""
    needs_before: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    scorer: bool = False
    with_scorer: tuple[str, ...] = ()
    """the scorer blocks its output works with (empty: any)"""
    after: tuple[str, ...] = ()
    """render places the custom block right after the last of these blocks (else before the scorer)"""
    imports: tuple[str, ...] = ()
    params: tuple[BlockParam, ...] = ()
    """the model's constructor/config keys the slot's code reads (once, whatever the number of parts)"""
    part_params: tuple[BlockParam, ...] = ()
    """each part's own values (config.yaml's custom_params.<part>), e.g. a loss term's weight"""

    @property
    def single(self) -> bool:
        """At most one part: it provides a role or scores."""
        return bool(self.provides) or self.scorer

    def constructor_sizes(self) -> tuple[str, ...]:
        """Constructor arguments whose values an output's shape names and no input binds: the slot keeps them for
        the shape gate (self.slot_sizes)."""
        bound = {symbol for arg in self.inputs for symbol in arg.shape or ()}
        named = {symbol for arg in self.outputs for symbol in arg.shape or ()}
        return tuple(arg.name for arg in self.init if arg.name in named - bound)


MATCHES = ("exact", "contains", "telltale")


@dataclass(frozen=True)
class RecBoleClass:
    """A RecBole class that a composition of a scaffold's blocks amounts to (family.yaml `recbole_classes`)."""

    name: str
    """the RecBole model class"""
    blocks: frozenset[str]
    """the blocks that make it"""
    match: str = "exact"
    """exact: the composition is these blocks; contains: it holds them, and may hold more; telltale: it holds these
    blocks (usually one) and no other entry's telltale blocks, unless those are a part of these (SASRecF's pair
    over SASRec's self-attention)"""
    loss: str | None = None
    """the class only when trained with this loss (matrix factorisation is BPR only with the BPR loss)"""

    def matches(self, kinds: frozenset[str], loss: str) -> bool:
        if self.loss is not None and self.loss != loss:
            return False
        return self.blocks <= kinds if self.match != "exact" else self.blocks == kinds


@dataclass(frozen=True)
class Base:
    """A scaffold: the model a family's blocks are composed into (its family.yaml and blocks/)."""

    folder: str
    """its folder below the templates root ("" for the top-k scaffold, templates/ itself)"""
    families: tuple[str, ...]
    """the spec families it builds"""
    template: str
    """the model template, relative to the templates root"""
    module: str
    """the runtime base class the model extends"""
    regime: str
    """the data regime config.yaml names, so the runtime loads the matching split"""
    split_type: str
    """what the model's constructor receives"""
    sections: tuple[str, ...]
    """the code sections each block template renders into, in the model's order"""
    blocks: dict[str, BlockRule]
    """its blocks by name (in file-name order)"""
    losses: dict[str, tuple[str, ...]]
    """loss -> runtime names its code uses"""
    loss_template: bool
    """True: templates/losses/<loss>.j2 writes the loss; False: the base module implements it"""
    train_regime: str | None = None
    """data.regime in config.yaml when training batches differ from `regime`"""
    tasks: tuple[str, ...] = ("topk",)
    """the spec tasks it trains and evaluates"""
    slots: dict[str, SlotRule] = field(default_factory=dict)
    """the fill-in slots custom parts can be written into, by name, in family.yaml's order (the first is the default)"""
    custom_architecture: tuple[str, ...] = ()
    """the composition custom parts act in when the spec names no block (the `custom` block among them)"""
    candidate_metric: str | None = None
    """the valid metric k fill-in drafts are ranked by (higher is better); None: eval.main_metric"""
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """spec family -> its defaults for the hyperparameters a paper leaves open"""
    learning_rate_by_optimizer: dict[str, float] = field(default_factory=dict)
    """the learning rate left open, by optimizer, where the general table does not carry over"""
    recbole_classes: tuple[RecBoleClass, ...] = ()
    """the RecBole classes compositions of its blocks amount to, first match first (the reference's starting
    point)"""

    def recbole_class(self, blocks: frozenset[str], loss: str) -> str | None:
        """The RecBole class this composition amounts to with this loss: the one telltale block it holds, else the
        first entry it matches; None for none (or for two telltales)."""
        matched = [entry for entry in self.recbole_classes
                   if entry.match == "telltale" and entry.matches(blocks, loss)]
        # a telltale pair (SASRecF: the feature fusion with SASRec's self-attention) is more telling than its part
        telltales = [entry for entry in matched if not any(entry.blocks < other.blocks for other in matched)]
        if telltales:
            if len(telltales) > 1:
                return None
            # another entry's telltale block the chosen entry lacks (the feature fusion beside a GRU) is no class
            telling = frozenset().union(*(entry.blocks for entry in self.recbole_classes if entry.match == "telltale"))
            return telltales[0].name if blocks & telling <= telltales[0].blocks else None
        return next((entry.name for entry in self.recbole_classes
                     if entry.match != "telltale" and entry.matches(blocks, loss)), None)

    def recbole_blocks(self, model: str) -> frozenset[str]:
        """The blocks of the first entry naming RecBole class `model` (empty when none names it)."""
        return next((entry.blocks for entry in self.recbole_classes if entry.name == model), frozenset())

    @property
    def blocks_folder(self) -> str:
        return f"{self.folder}/blocks" if self.folder else "blocks"

    @property
    def fill_slot(self) -> bool:
        """Whether custom parts can be written by the LLM fill-in (the scaffold has at least one slot)."""
        return bool(self.slots)


@dataclass(frozen=True)
class Library:
    """Every scaffold under one templates root."""

    root: Path
    """the templates root it was read from"""
    bases: tuple[Base, ...]
    """the top-k scaffold first, then the others in the order its family.yaml lists them"""

    def base_for(self, family: str) -> Base:
        """The scaffold that builds `family` (the top-k one for a family no scaffold names)."""
        return next((base for base in self.bases if family in base.families), self.bases[0])


def load_library(root: Path | None = None) -> Library:
    """The library under `root` (default: templates/ at the repository root), read and checked once."""
    return read_library(Path(root or TEMPLATES_DIR).resolve())


@cache
def read_library(root: Path) -> Library:
    """The scaffolds under `root` (a resolved path: one read per root and process)."""
    top = read_base(root, "")
    folders = optional_list(top.raw.get("scaffolds"), top.where("scaffolds"), str)
    bases = [top.base, *(read_base(root, folder).base for folder in folders)]
    seen: dict[str, str] = {}
    for base in bases:
        for family in base.families:
            if family in seen:
                raise ManifestError(f"{display(root, base.folder, FAMILY_FILE)}: families: {family!r} is also built "
                                    f"by {display(root, seen[family], FAMILY_FILE)}")
            seen[family] = base.folder
    return Library(root, tuple(bases))


def block_rule(family: str, name: str, root: Path | None = None) -> BlockRule | None:
    """The manifest of block `name` in `family`'s scaffold; None when that scaffold has no such block."""
    return load_library(root).base_for(family).blocks.get(name)


def slot_for(base: Base, part_name: str, description: str = "", chosen: str | None = None) -> SlotRule:
    """The slot a custom part is written into: the one it names (by slot or kind), else the first whose cue its name
    or description holds, else the scaffold's first slot. StageError when it names none of the scaffold's."""
    if not base.slots:
        raise StageError(f"render: custom part {part_name!r}: the {'/'.join(base.families)} models have no fill-in "
                         "slot")
    if chosen:
        found = base.slots.get(chosen) or next((s for s in base.slots.values() if s.kind == chosen), None)
        if found is None:
            known = ", ".join(f"{slot.name} ({slot.kind})" for slot in base.slots.values())
            raise StageError(f"render: custom part {part_name!r} names slot {chosen!r}, which the "
                             f"{'/'.join(base.families)} models do not have (slots: {known})")
        return found
    text = f"{part_name} {description}".lower()
    return next((slot for slot in base.slots.values() if any(cue in text for cue in slot.cues)),
                next(iter(base.slots.values())))


def custom_rule(base: Base, slots: list[SlotRule]) -> BlockRule:
    """The `custom` block holding parts in `slots`: its manifest joined with theirs (needs, provides, scorer,
    parameters, imports), so render checks and composes it like any block."""
    rule = base.blocks[CUSTOM_BLOCK]
    params = {param.key: param for param in rule.params}
    for slot in slots:
        params.update({param.key: param for param in slot.params if param.key not in params})
    provides = unique(rule.provides, *(slot.provides for slot in slots))
    needs = unique(rule.needs_before, *(slot.needs_before for slot in slots))
    return replace(
        rule, params=tuple(params.values()),
        needs_before=tuple(need for need in needs if need not in provides),  # its own parts act in order
        provides=provides,
        scorer=rule.scorer or any(slot.scorer for slot in slots),
        imports=unique(rule.imports, *(slot.imports for slot in slots)),
    )


def unique(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


# --- resolving a block parameter from a spec ---------------------------------------------------------

@dataclass(frozen=True)
class Resolved:
    """A block parameter's value for one spec, before coercion, and where it came from."""

    value: Any
    """as the spec (or the manifest) gives it"""
    source: str
    """the provenance column: the hyperparameter's source, the block parameter, or the template default"""
    evidence: str
    """the paper's quote for it, when it came from a quoted hyperparameter"""


def resolve_param(spec: MethodSpec, block: Block, param: BlockParam) -> Resolved:
    """`param`'s value for render: what the spec gives (`stated_param`), else the manifest default."""
    return stated_param(spec, block, param) or Resolved(param.default, NOT_IN_SPEC, "")


def stated_param(spec: MethodSpec, block: Block, param: BlockParam) -> Resolved | None:
    """What the spec gives for `param`: a user's override > the block's own parameter (a hand-written spec) > the
    hyperparameter it reads; None when it gives nothing (the RecBole references then leave it to RecBole)."""
    entry = spec.hyperparameters.get(param.hyperparameter) if param.hyperparameter else None
    if entry is not None and entry.source == "user":  # a user's override beats what the paper's blocks say
        return from_hyperparameter(spec, param, entry)
    if param.block_param in block.params:
        raw = block.params[param.block_param]
        if entry is not None and entry.value == raw:  # the block repeats the hyperparameter: its provenance
            return Resolved(raw, entry.source, entry.evidence or "")
        return Resolved(raw, f"spec block parameter ({block.block}.{param.block_param}), no quote", "")
    return from_hyperparameter(spec, param, entry) if entry is not None else None


def from_hyperparameter(spec: MethodSpec, param: BlockParam, entry: HyperParameter) -> Resolved:
    value = entry.value
    if param.repeat is not None and not isinstance(value, list | tuple):
        count = spec.hp(param.repeat)
        value = [value] * (count if isinstance(count, int) and count > 0 else 1)  # "I -> 600 -> K": one layer
    return Resolved(value, entry.source, entry.evidence or "")


# --- reading the files -----------------------------------------------------------------------------

BASE_FIELDS = {"families", "template", "module", "regime", "split_type", "sections", "losses", "loss_template"}
BASE_OPTIONAL = {"train_regime", "tasks", "slots", "custom_architecture", "candidate_metric", "defaults",
                 "learning_rate_by_optimizer", "recbole_classes", "scaffolds"}
RECBOLE_CLASS_FIELDS, RECBOLE_CLASS_OPTIONAL = {"class", "blocks"}, {"match", "loss"}
BLOCK_FIELDS = {"description"}
BLOCK_OPTIONAL = {"params", "allowed_extra", "needs", "provides", "imports", "scorer", "causal", "trains",
                  "hyperparameter_defaults", "regime"}
PARAM_FIELDS = {"key", "block_param", "hyperparameter", "default", "type"}
PARAM_OPTIONAL = {"range", "choices", "repeat", "default_from"}
SLOTS_FOLDER = "slots"
SLOT_TEMPLATE_SUFFIX = ".py.j2"
SLOT_FIELDS = {"description", "kind", "init", "inputs", "outputs"}
SLOT_OPTIONAL = {"symbols", "notes", "dim", "cues", "needs", "provides", "scorer", "with_scorer", "after", "imports",
                 "params", "part_params"}
SLOT_ARG_FIELDS = {"name", "about"}
SLOT_ARG_OPTIONAL = {"shape", "type"}


@dataclass(frozen=True)
class Where:
    """A place in a manifest, for error messages: `templates/blocks/gmf.yaml: params[0].type`."""

    file: str
    field: str = ""

    def at(self, name: str | int) -> Where:
        step = f"[{name}]" if isinstance(name, int) else (f".{name}" if self.field else name)
        return Where(self.file, self.field + step)

    def error(self, problem: str) -> ManifestError:
        return ManifestError(f"{self.file}: {self.field}: {problem}" if self.field else f"{self.file}: {problem}")


@dataclass(frozen=True)
class ReadBase:
    base: Base
    raw: dict[str, Any]
    file: str

    def where(self, name: str) -> Where:
        return Where(self.file).at(name)


def display(root: Path, folder: str, name: str) -> str:
    """A manifest's path as error messages show it: from the templates root's own name."""
    return "/".join(part for part in (root.name, folder, name) if part)


def read_yaml(path: Path, where: Where) -> dict[str, Any]:
    if not path.is_file():
        raise where.error("missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise where.error(f"not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise where.error("must be a mapping of fields")
    return data


def checked_fields(data: Mapping[str, Any], where: Where, required: set[str], optional: set[str]) -> None:
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise where.at(unknown[0]).error(f"unknown field (known: {', '.join(sorted(required | optional))})")
    missing = sorted(required - set(data))
    if missing:
        raise where.at(missing[0]).error("missing")


def read_base(root: Path, folder: str) -> ReadBase:
    where = Where(display(root, folder, FAMILY_FILE))
    if folder and not (root / folder).is_dir():
        raise Where(display(root, "", FAMILY_FILE), "scaffolds").error(f"no folder {folder!r} in {root.name}")
    raw = read_yaml(root / folder / FAMILY_FILE, where)
    checked_fields(raw, where, BASE_FIELDS, BASE_OPTIONAL if not folder else BASE_OPTIONAL - {"scaffolds"})
    families = required_list(raw["families"], where.at("families"), str)
    template = "/".join(part for part in (folder, text(raw["template"], where.at("template"))) if part)
    if not (root / template).is_file():
        raise where.at("template").error(f"no template {template} in {root.name}")
    blocks = read_blocks(root, folder)
    base = Base(
        folder=folder, families=families, template=template, module=text(raw["module"], where.at("module")),
        regime=text(raw["regime"], where.at("regime")), split_type=text(raw["split_type"], where.at("split_type")),
        sections=required_list(raw["sections"], where.at("sections"), str), blocks=blocks,
        losses=read_losses(raw["losses"], where.at("losses")),
        loss_template=flag(raw["loss_template"], where.at("loss_template")),
        train_regime=None if raw.get("train_regime") is None else text(raw["train_regime"], where.at("train_regime")),
        tasks=required_list(raw.get("tasks", ["topk"]), where.at("tasks"), str),
        slots=read_slots(root, optional_list(raw.get("slots"), where.at("slots"), str), where.at("slots")),
        custom_architecture=optional_list(raw.get("custom_architecture"), where.at("custom_architecture"), str),
        candidate_metric=(None if raw.get("candidate_metric") is None
                          else text(raw["candidate_metric"], where.at("candidate_metric"))),
        defaults=read_defaults(raw.get("defaults"), where.at("defaults"), families),
        learning_rate_by_optimizer=dict(mapping(raw.get("learning_rate_by_optimizer"),
                                                where.at("learning_rate_by_optimizer"), (int, float))),
        recbole_classes=read_recbole_classes(raw.get("recbole_classes"), where.at("recbole_classes"), blocks),
    )
    check_needs(base, root)
    check_slots(base, root, where)
    for name, rule in blocks.items():
        if rule.trains and rule.trains not in base.losses:
            raise where.at("losses").error(f"names no loss {rule.trains!r} (block {name} trains it)")
    return ReadBase(base, raw, where.file)


def read_recbole_classes(value: Any, where: Where, blocks: Mapping[str, BlockRule]) -> tuple[RecBoleClass, ...]:
    entries = []
    for index, raw in enumerate(optional_list(value, where, dict)):
        at = where.at(index)
        checked_fields(raw, at, RECBOLE_CLASS_FIELDS, RECBOLE_CLASS_OPTIONAL)
        names = required_list(raw["blocks"], at.at("blocks"), str)
        unknown = [name for name in names if name not in blocks]
        if unknown:
            raise at.at("blocks").error(f"{unknown[0]!r} is not a block of this scaffold")
        match = text(raw.get("match", "exact"), at.at("match"))
        if match not in MATCHES:
            raise at.at("match").error(f"{match!r} is not one of {', '.join(MATCHES)}")
        if match == "telltale" and not names:
            raise at.at("blocks").error("a telltale entry names its block (or its pair of blocks)")
        loss = None if raw.get("loss") is None else text(raw["loss"], at.at("loss"))
        entries.append(RecBoleClass(text(raw["class"], at.at("class")), frozenset(names), match, loss))
    return tuple(entries)


def read_losses(value: Any, where: Where) -> dict[str, tuple[str, ...]]:
    losses = mapping(value, where, list)
    if not losses:
        raise where.error("names no loss")
    return {loss: optional_list(names, where.at(loss), str) for loss, names in losses.items()}


def read_defaults(value: Any, where: Where, families: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    defaults = mapping(value, where, dict)
    for family, values in defaults.items():
        if family not in families:
            raise where.at(family).error(f"not one of this scaffold's families ({', '.join(families)})")
        mapping(values, where.at(family), object)
    return {family: dict(values) for family, values in defaults.items()}


def read_blocks(root: Path, folder: str) -> dict[str, BlockRule]:
    """Every block of the scaffold: each template has its manifest and each manifest its template."""
    blocks_dir = root / folder / "blocks"
    files = sorted(blocks_dir.iterdir()) if blocks_dir.is_dir() else []
    templates = {path.stem for path in files if path.suffix == TEMPLATE_SUFFIX}
    manifests = {path.stem for path in files if path.suffix == MANIFEST_SUFFIX}
    for name in sorted(templates ^ manifests):
        has, lacks = ("template", "manifest") if name in templates else ("manifest", "template")
        raise Where(display(root, f"{folder}/blocks" if folder else "blocks", f"{name}.yaml")).error(
            f"block {name!r} has a {has} but no {lacks} ({name}.j2 and {name}.yaml go together)")
    rel = f"{folder}/blocks" if folder else "blocks"
    return {name: read_block(blocks_dir / f"{name}.yaml", Where(display(root, rel, f"{name}.yaml")))
            for name in sorted(templates)}


def read_block(path: Path, where: Where) -> BlockRule:
    raw = read_yaml(path, where)
    checked_fields(raw, where, BLOCK_FIELDS, BLOCK_OPTIONAL)
    name = path.stem
    description = " ".join(text(raw["description"], where.at("description")).split())
    if not description.startswith(name):
        raise where.at("description").error(f"must start with the block's name ({name})")
    params_raw = raw.get("params") or []
    if not isinstance(params_raw, list):
        raise where.at("params").error("must be a list")
    params = tuple(read_param(item, where.at("params").at(i)) for i, item in enumerate(params_raw))
    keys = [param.key for param in params]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise where.at("params").error(f"key {twice[0]!r} appears more than once")
    words = mapping(raw.get("allowed_extra"), where.at("allowed_extra"), (dict, type(None)))
    return BlockRule(
        name=name, description=description, params=params, allowed_extra=tuple(words),
        word_choices=read_words(words, where.at("allowed_extra")),
        needs_before=optional_list(raw.get("needs"), where.at("needs"), str),
        imports=optional_list(raw.get("imports"), where.at("imports"), str),
        scorer=flag(raw.get("scorer", False), where.at("scorer")),
        provides=optional_list(raw.get("provides"), where.at("provides"), str),
        causal=flag(raw.get("causal", False), where.at("causal")),
        hyperparameter_defaults=dict(mapping(raw.get("hyperparameter_defaults"),
                                             where.at("hyperparameter_defaults"), object)),
        **read_trains(raw.get("trains"), where.at("trains")),
        regime=None if raw.get("regime") is None else text(raw["regime"], where.at("regime")),
    )


def read_trains(value: Any, where: Where) -> dict[str, Any]:
    """`trains: {loss: warp_hinge, for: [other]}`: the block's own loss and the spec losses it stands for."""
    if value is None:
        return {}
    checked_fields(mapping(value, where, object), where, {"loss", "for"}, set())
    return {"trains": text(value["loss"], where.at("loss")),
            "trains_for": optional_list(value["for"], where.at("for"), str)}


def read_words(words: Mapping[str, Any], where: Where) -> dict[str, tuple[str, ...]]:
    """The structural words' choices: `word: {choices: [...]}`, or `word:` alone for any value."""
    choices = {}
    for word, spec in words.items():
        checked_fields(spec or {}, where.at(word), set(), {"choices"})
        if (spec or {}).get("choices") is not None:
            choices[word] = read_choices(spec["choices"], where.at(word).at("choices"))
    return choices


def read_param(raw: Any, where: Where) -> BlockParam:
    if not isinstance(raw, dict):
        raise where.error("must be a mapping (key, block_param, hyperparameter, default, type)")
    checked_fields(raw, where, PARAM_FIELDS, PARAM_OPTIONAL)
    kind_name = text(raw["type"], where.at("type"))
    if kind_name not in PARAM_KINDS:
        raise where.at("type").error(f"{kind_name!r} is not a type ({', '.join(PARAM_KINDS)})")
    hyperparameter = raw["hyperparameter"]
    if hyperparameter is not None:
        text(hyperparameter, where.at("hyperparameter"))
    param = BlockParam(
        key=text(raw["key"], where.at("key")), block_param=text(raw["block_param"], where.at("block_param")),
        hyperparameter=hyperparameter, default=raw["default"], kind=PARAM_KINDS[kind_name],
        range=read_range(raw.get("range"), where.at("range")),
        choices=read_choices(raw.get("choices"), where.at("choices")) if "choices" in raw else (),
        repeat=read_repeat(raw, where), default_from=read_default_from(raw, where),
    )
    check_default(param, kind_name, where.at("default"))
    return param


def read_range(value: Any, where: Where) -> tuple[float | None, float | None] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(is_number(v) or v is None for v in value)):
        raise where.error("must be [min, max], numbers or null (open)")
    low, high = value
    if low is not None and high is not None and low > high:
        raise where.error(f"min {low} is above max {high}")
    return low, high


def read_choices(value: Any, where: Where) -> tuple[str, ...]:
    choices = required_list(value, where, str)
    return tuple(choice.lower() for choice in choices)


def read_repeat(raw: Mapping[str, Any], where: Where) -> str | None:
    if raw.get("repeat") is None:
        return None
    if raw["hyperparameter"] is None or raw["type"] != "int_list":
        raise where.at("repeat").error("needs a hyperparameter and type int_list")
    return text(raw["repeat"], where.at("repeat"))


def read_default_from(raw: Mapping[str, Any], where: Where) -> DefaultFrom | None:
    value = raw.get("default_from")
    if value is None:
        return None
    where = where.at("default_from")
    if raw["hyperparameter"] is None:
        raise where.error("needs the param's hyperparameter (the one whose default it gives)")
    if not isinstance(value, dict):
        raise where.error("must be {hyperparameter: NAME, element: INDEX}")
    checked_fields(value, where, {"hyperparameter", "element"}, set())
    element = value["element"]
    if not isinstance(element, int) or isinstance(element, bool):
        raise where.at("element").error("must be an integer index")
    return DefaultFrom(text(value["hyperparameter"], where.at("hyperparameter")), element)


def check_default(param: BlockParam, kind_name: str, where: Where) -> None:
    """The default has the param's type and lies within its range and choices."""
    value = param.default
    items = value if kind_name == "int_list" else [value]
    if kind_name == "int_list" and not (isinstance(value, list) and value):
        raise where.error(f"{value!r} is not a non-empty list of integers")
    for item in items:
        if not has_kind(item, kind_name):
            raise where.error(f"{value!r} is not of type {kind_name}")
        if param.range is not None and not in_range(item, param.range):
            raise where.error(f"{value!r} is outside range {list(param.range)}")
    if param.choices and str(value).lower() not in param.choices:
        raise where.error(f"{value!r} is not one of its choices ({', '.join(param.choices)})")


def has_kind(value: Any, kind_name: str) -> bool:
    if kind_name in ("int", "int_list"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind_name == "float":
        return is_number(value)
    return isinstance(value, str if kind_name == "str" else bool)


def in_range(value: float, bounds: tuple[float | None, float | None]) -> bool:
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


def describe_range(bounds: tuple[float | None, float | None]) -> str:
    low, high = bounds
    if high is None:
        return f"must be >= {low:g}"
    if low is None:
        return f"must be <= {high:g}"
    return f"must be in [{low:g}, {high:g}]"


def check_needs(base: Base, root: Path) -> None:
    """Every block's `needs` names a block or a role some block of the scaffold provides."""
    known = set(base.blocks) | {role for rule in base.blocks.values() for role in rule.provides}
    for rule in base.blocks.values():
        for position, need in enumerate(rule.needs_before):
            if need not in known:
                where = Where(display(root, base.blocks_folder, f"{rule.name}.yaml")).at("needs").at(position)
                raise where.error(f"{need!r} is no block or role of this scaffold")


def read_slots(root: Path, names: tuple[str, ...], where: Where) -> dict[str, SlotRule]:
    for position, name in enumerate(names):
        if not (root / SLOTS_FOLDER / f"{name}{MANIFEST_SUFFIX}").is_file():
            raise where.at(position).error(f"no slot {name!r} ({SLOTS_FOLDER}/{name}{MANIFEST_SUFFIX} in {root.name})")
    return {name: read_slot(root, name) for name in names}


def read_slot(root: Path, name: str) -> SlotRule:
    """templates/slots/<name>.yaml, beside its template <name>.py.j2 (read once per root: slots are shared)."""
    where = Where(display(root, SLOTS_FOLDER, f"{name}{MANIFEST_SUFFIX}"))
    if not (root / SLOTS_FOLDER / f"{name}{SLOT_TEMPLATE_SUFFIX}").is_file():
        raise where.error(f"slot {name!r} has a manifest but no template {name}{SLOT_TEMPLATE_SUFFIX}")
    raw = read_yaml(root / SLOTS_FOLDER / f"{name}{MANIFEST_SUFFIX}", where)
    checked_fields(raw, where, SLOT_FIELDS, SLOT_OPTIONAL)
    description = " ".join(text(raw["description"], where.at("description")).split())
    if not description.startswith(name):
        raise where.at("description").error(f"must start with the slot's name ({name})")
    init = read_slot_args(raw["init"], where.at("init"), "int")
    inputs = read_slot_args(raw["inputs"], where.at("inputs"), "torch.Tensor")
    outputs = read_slot_args(raw["outputs"], where.at("outputs"), "torch.Tensor")
    if not outputs:
        raise where.at("outputs").error("must be a non-empty list")
    symbols = {key: " ".join(str(value).split()) for key, value in
               mapping(raw.get("symbols"), where.at("symbols"), str).items()}
    known = {arg.name for arg in init} | set(symbols)
    for group, args in (("inputs", inputs), ("outputs", outputs)):
        for position, arg in enumerate(args):
            unknown = [symbol for symbol in arg.shape or () if symbol not in known]
            if unknown:
                raise where.at(group).at(position).at("shape").error(
                    f"{unknown[0]!r} is neither a constructor argument nor one of `symbols`")
    params_where = where.at("params")
    return SlotRule(
        name=name, description=description, kind=text(raw["kind"], where.at("kind")),
        template=f"{SLOTS_FOLDER}/{name}{SLOT_TEMPLATE_SUFFIX}", init=init, inputs=inputs, outputs=outputs,
        symbols=symbols, notes=" ".join(str(raw.get("notes") or "").split()),
        dim=None if raw.get("dim") is None else text(raw["dim"], where.at("dim")),
        cues=tuple(cue.lower() for cue in optional_list(raw.get("cues"), where.at("cues"), str)),
        needs_before=optional_list(raw.get("needs"), where.at("needs"), str),
        provides=optional_list(raw.get("provides"), where.at("provides"), str),
        scorer=flag(raw.get("scorer", False), where.at("scorer")),
        with_scorer=optional_list(raw.get("with_scorer"), where.at("with_scorer"), str),
        after=optional_list(raw.get("after"), where.at("after"), str),
        imports=optional_list(raw.get("imports"), where.at("imports"), str),
        params=read_params(raw.get("params"), params_where),
        part_params=read_params(raw.get("part_params"), where.at("part_params")),
    )


def read_slot_args(value: Any, where: Where, annotation: str) -> tuple[SlotArg, ...]:
    if not isinstance(value, list):
        raise where.error("must be a list")
    args = []
    for position, item in enumerate(value):
        at = where.at(position)
        if not isinstance(item, dict):
            raise at.error("must be a mapping (name, about, shape, type)")
        checked_fields(item, at, SLOT_ARG_FIELDS, SLOT_ARG_OPTIONAL)
        shape = item.get("shape")
        if shape is not None and not (isinstance(shape, list) and all(isinstance(s, str) for s in shape)):
            raise at.at("shape").error("must be a list of size names")
        args.append(SlotArg(name=text(item["name"], at.at("name")), about=" ".join(str(item["about"]).split()),
                            shape=None if shape is None else tuple(shape),
                            annotation=text(item.get("type", annotation), at.at("type"))))
    names = [arg.name for arg in args]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise where.error(f"{twice[0]!r} appears more than once")
    return tuple(args)


def read_params(value: Any, where: Where) -> tuple[BlockParam, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise where.error("must be a list")
    return tuple(read_param(item, where.at(i)) for i, item in enumerate(value))


def check_slots(base: Base, root: Path, where: Where) -> None:
    """A scaffold with slots has a `custom` block; a slot's needs, after and with_scorer name its blocks or roles;
    custom_architecture composes from its blocks."""
    if not base.slots:
        return
    if CUSTOM_BLOCK not in base.blocks:
        raise where.at("slots").error(f"a scaffold with slots needs a {CUSTOM_BLOCK} block in {base.blocks_folder}/")
    known = (set(base.blocks) | {role for rule in base.blocks.values() for role in rule.provides}
             | {role for slot in base.slots.values() for role in slot.provides})
    for slot in base.slots.values():
        slot_where = Where(display(root, SLOTS_FOLDER, f"{slot.name}{MANIFEST_SUFFIX}"))
        for name, names in (("needs", slot.needs_before), ("after", slot.after), ("with_scorer", slot.with_scorer)):
            for position, need in enumerate(names):
                if need not in known:
                    raise slot_where.at(name).at(position).error(
                        f"{need!r} is no block or role of the {'/'.join(base.families)} scaffold")
    for position, name in enumerate(base.custom_architecture):
        if name not in base.blocks:
            raise where.at("custom_architecture").at(position).error(f"{name!r} is no block of this scaffold")


# --- small readers ---------------------------------------------------------------------------------

def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text(value: Any, where: Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"{value!r} is not a non-empty string")
    return value


def flag(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"{value!r} is not true or false")
    return value


def required_list(value: Any, where: Where, kind: type) -> tuple[Any, ...]:
    items = optional_list(value, where, kind)
    if not items:
        raise where.error("must be a non-empty list")
    return items


def optional_list(value: Any, where: Where, kind: type) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise where.error(f"must be a list of {kind.__name__}")
    return tuple(value)


def mapping(value: Any, where: Where, kind: type | tuple[type, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.error("must be a mapping")
    for key, item in value.items():
        if not isinstance(key, str):
            raise where.error(f"key {key!r} is not a name")
        if not isinstance(item, kind):
            raise where.at(key).error(f"{item!r} has the wrong type")
    return dict(value)
