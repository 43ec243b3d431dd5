"""The rule-based extractor: lexicon and patterns over a PaperDoc, no LLM, no network."""

from __future__ import annotations

import logging
import re
from collections import Counter

from paper_autotrain.recbole_models import normalised, recbole_class
from paper_autotrain.schemas import (
    BaselineRef,
    Block,
    HyperParameter,
    MethodSpec,
    PaperDoc,
    Table,
)

from .datasets import detect_datasets, named_in_prose
from .datasets import ordered_unique as _ordered_unique
from .fidelity import assess
from .grids import find_grid_choices
from .hparams import (
    find_grids,
    find_hyperparameters,
    find_optimizer,
    names_other_model,
    optimizer_settings,
)
from .lexicon import (
    FAMILY_CUES,
    KNOWN_MODELS,
    LOSS_CUES,
    OTHER_LOSS_CUES,
)
from .metrics import detect_metrics
from .model_name import detect_model_name
from .protocol import read_protocol
from .scope import CITED_WORK, own_sentences
from .settings_tables import find_table_hyperparameters
from .tables import compared_methods, find_reported
from .text import EXPERIMENT_HEADING, Sentence, opening_text, quote, split_sentences
from .text_numbers import reported_in_text
from .text_tables import text_tables

log = logging.getLogger(__name__)


# Architecture cues: which known block composition a method describes.
LIGHT_PROPAGATION_CUES = (
    r"light graph convolution",
    r"(?:remove|discard|abandon|without)[\w ]{0,20} feature transformation",
    r"layer combination",
    r"neighbo(?:u)?rhood aggregation",
)
NEUMF_CUES = (
    r"\bGMF\b|generali[sz]ed matrix factori[sz]ation",
    r"\bMLP\b|multi-layer perceptron",
    r"fus(?:e|ion)|ensembl|concatenat",
)
DOT_CUES = r"inner product|dot product"
# Sequential encoders, told apart by how often the paper speaks of each (a paper also names its baselines')
SEQUENTIAL_ENCODER_CUES = {
    "self_attention_encoder": r"self-attention",
    "gru_encoder": r"\bGRUs?\b|gated recurrent",
    "caser_encoder": r"(?:horizontal|vertical) (?:convolution|convolutional|filter)",
}
MIN_ENCODER_MENTIONS = 5
# Parts of a CTR model, counted over the paper (it also describes the baselines it compares with)
CONTEXT_PART_CUES = {
    "fm": r"factori[sz]ation[- ]machines?|\bFMs?\b",
    "deep": r"\bDNNs?\b|deep neural networks?|deep (?:component|part|model|learning)|multi-layer perceptron"
            r"|\bMLPs?\b|hidden layers?|neural network",
    "wide": r"\bwide\b|\blinear models?",
    "cross": r"cross network|cross layers?",
    "logistic": r"logistic regression",
}
MF_CUES = r"matrix factori[sz]ation|\bMF\b"
# Autoencoders: variational or denoising, by mentions; a denoising one with a user input node is CDAE-shaped
AUTOENCODER_CUES = {"variational_encoder": r"variational|\bVAEs?\b", "denoising_encoder": r"denoising|\bDAEs?\b"}
USER_NODE_CUES = (r"user[- ](?:specific )?(?:input )?node"
                  r"|(?:user-specific|per-user) (?:latent )?(?:vector|embedding|factor)")
MIN_USER_NODE_MENTIONS = 2
ACTIVATION_CUES = r"\b(tanh|sigmoid|relu)\b[^.]{0,40}?(?:activation|non-?linearity)"
ANNEAL_STEPS = re.compile(r"anneal\w*[^.]{0,80}?\b(?P<v>\d{1,3}(?:,\d{3})+|\d+)\s+"
                          r"(?:gradient\s+)?(?:updates|steps|iterations)", re.I)
ANNEAL_CAP = re.compile(r"(?:cap(?:ped)?|stop increasing)[^.]{0,40}?(?:β|beta)\s*(?:=|at|of|to)\s*(?P<v>0?\.\d+)"
                        r"|(?:β|beta)\s+(?:is\s+)?(?:capped|fixed)\s+(?:at|to)\s+(?P<w>0?\.\d+)", re.I)
STANDARD_NOISE = re.compile(r"(?:ϵ|ε|epsilon)\s*(?:∼|~|is drawn from|from)?\s*N\s*\(\s*0\s*,\s*(?:I|1\b)", re.I)


def _count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text, re.I))


def experiment_sentences(doc: PaperDoc, sentences: list[Sentence]) -> list[Sentence]:
    """Sentences from the first experiments section on (the second half when no heading says so)."""
    start = next((s.page for s in doc.sections if EXPERIMENT_HEADING.search(s.title)), None)
    if start is None:
        start = max(1, len(doc.pages) // 2)
    return [s for s in sentences if s.page >= start]


def detect_family(doc: PaperDoc) -> str:
    title = doc.meta.title
    first_page = opening_text(doc)
    body = doc.full_text
    scores = {
        family: sum(
            w * (5 * _count(p, title) + _count(p, first_page) + 0.05 * _count(p, body)) for p, w in cues
        )
        for family, cues in FAMILY_CUES.items()
    }
    best = max(scores, key=lambda f: scores[f])
    log.debug("family scores %s", scores)
    return best if scores[best] >= 2 else "general"


def detect_task(family: str, metrics: list[str]) -> str:
    bases = {m.split("@")[0] for m in metrics}
    if bases & {"RMSE", "MAE"} and not bases & {"Recall", "NDCG", "HR", "MRR"}:
        return "rating"
    return "ctr" if family == "context" else "topk"


# A sentence about another paper's or a compared method's training ("[12] minimizes the weighted RMSE", "They then
# formulate ...", "BPRMF ... with Bayesian Personalized Ranking loss") counts less than one about the paper's own.
OWN_VOICE = re.compile(r"\b(?:we|our)\b", re.I)


def _loss_weight(sentence: str, model_name: str, others: tuple[str, ...] = ()) -> float:
    if CITED_WORK.search(sentence):
        return 0.2
    if names_other_model(sentence, model_name, others) and not OWN_VOICE.search(sentence):
        return 0.5  # a compared method's description
    return 1.0


def detect_loss(
    sentences: list[Sentence], task: str, model_name: str = "", others: tuple[str, ...] = ()
) -> tuple[str, str | None, str | None]:
    """The loss with the strongest cues, a quote for it, and the name of a loss outside the spec's vocabulary
    (hinge, sampled softmax, ...) when that is the paper's: the spec then says "other" and names it."""
    scores: Counter[str] = Counter()
    quotes: dict[str, str] = {}
    cue_sets = {**LOSS_CUES, **{f"other:{name}": cues for name, cues in OTHER_LOSS_CUES.items()}}
    for sentence in sentences:
        weight = None
        for loss, cues in cue_sets.items():
            for pattern, cue_weight in cues:
                match = re.search(pattern, sentence.text, re.I)
                if match:
                    weight = _loss_weight(sentence.text, model_name, others) if weight is None else weight
                    scores[loss] += cue_weight * weight
                    quotes.setdefault(loss, quote(sentence, match.start()))
    if task == "rating" and scores["mse"]:
        return "mse", quotes["mse"], None
    if scores:
        loss = scores.most_common(1)[0][0]
        if loss.startswith("other:"):
            return "other", quotes[loss], loss.removeprefix("other:")
        return loss, quotes[loss], None
    if task == "ctr":
        return "bce", None, None
    return "other", None, None


# where a sentence turns to the methods the paper leaves out: the names after it are not its baselines
NOT_COMPARED = re.compile(r"\b(?:do|does|did) not compare|\b(?:is|are|was|were) not compared|\bwe (?:exclude|omit)\b",
                          re.I)


def detect_baselines(tables: list[Table], experiments: list[Sentence], model_name: str) -> list[BaselineRef]:
    """The known methods (lexicon) the tables and experiment sentences name; a method the paper says it does not
    compare with ("FISM improves upon SLIM, hence we do not compare to SLIM") is not one."""
    own = normalised(model_name)
    texts = [cell for t in tables for row in t.rows for cell in row] + [s.text for s in experiments]
    left_out = {name for s in experiments for tail in NOT_COMPARED.split(s.text)[1:] for name in _known_in(tail)}
    found = [name for text in texts for name in _known_in(text) if name not in left_out]
    names = [n for n in _ordered_unique(found) if normalised(n) != own]
    return [BaselineRef(name=n, recbole=KNOWN_MODELS[n]) for n in names]


def _known_in(text: str) -> list[str]:
    """The lexicon's methods a text names, whole names only ("SVD" is not read in "SVD++"), in the text's order (not
    the registry's)."""
    found = [(match.start(), name) for name in KNOWN_MODELS
             if (match := re.search(rf"(?<![\w-]){re.escape(name)}(?![\w+-])", text))]
    return [name for _, name in sorted(found)]


def _baselines(
    doc: PaperDoc, experiments: list[Sentence], model_name: str, compared: tuple[str, ...]
) -> list[BaselineRef]:
    """The methods the paper's results tables print beside its own, names as printed (RecBole's class where one
    implements the name), less the method's own variants (an ablation's 'CMN-Attn'); else, when no table prints
    the method among others, the known methods the experiments name."""
    own = normalised(model_name)
    others = [name for name in compared if len(own) < 3 or not normalised(name).startswith(own)]
    if others:
        return [BaselineRef(name=name, recbole=recbole_class(name)) for name in others]
    return detect_baselines(doc.tables, experiments, model_name)


def detect_architecture(family: str, loss: str, text: str, model_name: str) -> tuple[list[Block], list[str]]:
    """Blocks for the method when its description matches a known composition, and notes. What the blocks leave
    out (or the whole method, when nothing matches) is the fidelity inventory's to name (`fidelity.assess`)."""
    if (
        family == "graph"
        and any(re.search(c, text, re.I) for c in LIGHT_PROPAGATION_CUES)
        and re.search(DOT_CUES, text, re.I)
    ):
        return (
            [
                Block(block="embedding"),
                Block(block="light_propagation", combine="mean"),
                Block(block="dot_score"),
            ],
            [],
        )
    if family == "general" and all(re.search(c, text) for c in NEUMF_CUES) and loss == "bce":
        return (
            [Block(block="gmf"), Block(block="mlp_tower", activation="relu"), Block(block="neumf_fusion")],
            [],
        )
    if family == "general" and loss == "bpr" and re.search(MF_CUES, text) and re.search(DOT_CUES, text, re.I):
        return [Block(block="embedding"), Block(block="dot_score")], []
    encoder = sequential_encoder(text) if family == "sequential" else None
    if encoder in ("self_attention_encoder", "gru_encoder"):
        blocks = [Block(block="item_embedding"), Block(block=encoder), Block(block="last_position"),
                  Block(block="item_dot_score")]
        return blocks, []
    if encoder == "caser_encoder":  # the convolutions pool the whole window themselves
        return [Block(block="item_embedding"), Block(block="caser_encoder"), Block(block="item_dot_score")], []
    if family == "context" and (parts := context_parts(text)):
        return parts, []
    encoder = autoencoder_encoder(text) if family == "autoencoder" else None
    if encoder is not None:
        norm = "none" if encoder == "cdae_encoder" else "l2"  # CDAE corrupts the raw row; Mult-* normalise it
        activation = stated_activation(text)
        params = {"activation": activation} if activation else {}
        return [Block(block="user_row_input", norm=norm), Block(block=encoder, **params),
                Block(block="item_decoder")], []
    return [], [f"architecture of {model_name or 'the method'} not mapped to library blocks (see custom)"]


def context_parts(text: str) -> list[Block]:
    """CTR blocks: cross network + deep (DCN), FM + deep (DeepFM), wide + deep, FM alone, logistic regression."""
    counts = {name: len(re.findall(cue, text, re.I)) for name, cue in CONTEXT_PART_CUES.items()}
    often = {name for name, count in counts.items() if count >= MIN_ENCODER_MENTIONS}
    fields, deep = Block(block="field_embedding"), Block(block="mlp_tower", activation="relu")
    if {"cross", "deep"} <= often:
        return [fields, Block(block="cross_network"), deep, Block(block="concat_head")]
    first_order = [fields, Block(block="linear")]
    if "deep" in often and "fm" in often and counts["fm"] > counts["wide"]:
        return [*first_order, Block(block="fm_interaction"), deep, Block(block="sum_logits")]
    if "deep" in often and "wide" in often:
        return [*first_order, deep, Block(block="sum_logits")]
    if "fm" in often:
        return [*first_order, Block(block="fm_interaction"), Block(block="sum_logits")]
    if "logistic" in often:
        return [Block(block="linear"), Block(block="sum_logits")]
    return []


def sequential_encoder(text: str) -> str | None:
    """The encoder the paper is about: the most mentioned one, if it is mentioned often enough."""
    counts = {name: len(re.findall(cue, text, re.I)) for name, cue in SEQUENTIAL_ENCODER_CUES.items()}
    name, count = max(counts.items(), key=lambda item: item[1])
    return name if count >= MIN_ENCODER_MENTIONS else None


def autoencoder_encoder(text: str) -> str | None:
    """variational_encoder, denoising_encoder or cdae_encoder (denoising with a user input node), or None."""
    counts = {name: len(re.findall(cue, text, re.I)) for name, cue in AUTOENCODER_CUES.items()}
    name, count = max(counts.items(), key=lambda item: item[1])
    if count < MIN_ENCODER_MENTIONS:
        return None
    if name == "denoising_encoder" and len(re.findall(USER_NODE_CUES, text, re.I)) >= MIN_USER_NODE_MENTIONS:
        return "cdae_encoder"
    return name


def stated_activation(text: str) -> str | None:
    """The activation the paper names most often as such ("a tanh non-linearity", "sigmoid activation")."""
    found = Counter(match.group(1).lower() for match in re.finditer(ACTIVATION_CUES, text, re.I))
    return found.most_common(1)[0][0] if found else None


def variational_hyperparameters(sentences: list[Sentence]) -> dict[str, HyperParameter]:
    """KL annealing as stated (total_anneal_steps updates, anneal_cap), and a standard-normal eps (noise_std 1)."""
    found: dict[str, HyperParameter] = {}
    for sentence in sentences:
        noise = STANDARD_NOISE.search(sentence.text)
        if noise and "noise_std" not in found:
            found["noise_std"] = HyperParameter(value=1.0, evidence=quote(sentence, noise.start()))
        steps = ANNEAL_STEPS.search(sentence.text)
        if steps and "total_anneal_steps" not in found:
            found["total_anneal_steps"] = HyperParameter(value=int(steps.group("v").replace(",", "")),
                                                         evidence=quote(sentence, steps.start()))
        cap = ANNEAL_CAP.search(sentence.text)
        if cap and "anneal_cap" not in found:
            found["anneal_cap"] = HyperParameter(value=float(cap.group("v") or cap.group("w")),
                                                 evidence=quote(sentence, cap.start()))
    return found


def link_hyperparameters(hyperparameters: dict[str, HyperParameter], links: list[tuple[str, str, str]]) -> list[str]:
    """Hyperparameters the method ties to another one it states (a d x d feed-forward: hidden_size = d)."""
    notes = []
    for key, source, evidence in links:
        if key in hyperparameters:
            continue
        if source in hyperparameters and hyperparameters[source].source == "paper":
            hyperparameters[key] = HyperParameter(value=hyperparameters[source].value, evidence=evidence)
        else:
            notes.append(f"{key}: the method sets it to {source}, which the paper does not state ({evidence})")
    return notes


def extract(doc: PaperDoc) -> MethodSpec:
    """A MethodSpec with everything the paper states; defaults and overrides are applied afterwards."""
    sentences = split_sentences(doc)
    experiments = experiment_sentences(doc, sentences)
    family = detect_family(doc)
    read_back = text_tables(doc)
    metrics = detect_metrics([*doc.tables, *read_back], experiments)
    task = detect_task(family, metrics)
    model_name = detect_model_name(doc, sentences, experiments)
    if model_name is None:
        unclear_name = ["model_name: the paper gives its method no name (no 'we propose X', title acronym or "
                        "results row); the outputs use the paper's key"]
    else:
        unclear_name = []
    own_name = model_name or ""
    others = tuple(compared_methods([*doc.tables, *read_back], own_name))  # the methods its tables compare with
    loss, loss_quote, other_loss = detect_loss(sentences, task, own_name, others)
    datasets = detect_datasets(doc.tables, experiments, sentences, read_back)
    scoped = own_sentences(doc, sentences, own_name)  # not related work, compared methods or cited findings
    hyperparameters, unclear = find_hyperparameters(scoped, own_name, others=others)
    unclear = unclear_name + unclear
    from_tables, table_notes = find_table_hyperparameters(doc.tables, datasets, set(hyperparameters), own_name)
    hyperparameters.update(from_tables)
    unclear += table_notes
    hyperparameters.update(find_grid_choices(scoped, own_name, set(hyperparameters), others))
    scoped_experiments = [s for s in experiments if s in set(scoped)]
    optimizer, optimizer_notes = find_optimizer(scoped, own_name, preferred=scoped_experiments, others=others)
    unclear += optimizer_notes
    if optimizer is not None:
        hyperparameters["optimizer"] = optimizer
        settings, settings_notes = optimizer_settings(scoped, str(optimizer.value))  # RMSProp's decay, momentum
        hyperparameters.update(settings)
        unclear += settings_notes
    if "mlp_layers" in hyperparameters and family not in ("general", "context"):
        del hyperparameters["mlp_layers"]  # a tower of a compared method, not of this one
    unclear += find_grids(scoped, set(hyperparameters), others)
    if family == "context" and task == "rating":  # the context models are trained and scored as CTR models
        task = "ctr"
        unclear.append("task: the paper's experiments predict ratings; the spec targets the CTR protocol (label = "
                       f"rating >= threshold, AUC and LogLoss) so the context models can run it; loss {loss} is kept")
    if family == "autoencoder" and task == "rating":  # the autoencoders are trained and scored on the top-k protocol
        task = "topk"
        unclear.append("task: the paper's experiments predict ratings; the spec targets the top-k protocol (full "
                       "ranking of the implicit split) so the autoencoder runs it; the paper's RMSE is not measured")
    if family == "graph" and task == "rating":  # GC-MC: matrix completion run as RecBole runs it on implicit data
        task = "topk"
        unclear.append("task: the paper's experiments predict ratings; the spec targets the top-k protocol on the "
                       "implicit split (one rating level, the observed interaction; sampled non-interactions the "
                       "other class), as RecBole runs its graph models")
    text = doc.full_text
    blocks, guess_notes = detect_architecture(family, loss, text, own_name)
    baselines = _baselines(doc, experiments, own_name, others)
    assessment = assess(doc, sentences, family, loss, model_name, blocks,
                        compared=tuple(baseline.name for baseline in baselines))
    blocks, custom = assessment.architecture, assessment.custom
    if custom or not blocks:  # the guess's "not mapped" holds only when the inventory did not compose the model
        unclear += guess_notes
    unclear += assessment.notes
    unclear += link_hyperparameters(hyperparameters, assessment.hyperparameter_links)
    if any(block.block == "variational_encoder" for block in blocks):
        annealing = variational_hyperparameters(sentences)
        hyperparameters.update({k: v for k, v in annealing.items() if k not in hyperparameters})
    if other_loss:
        unclear.append(f"loss: the paper trains with a {other_loss}, which the spec's losses (bpr, bce, ce, "
                       f"multinomial, mse, ccl, top1, bpr_max) do not include; `other` ({loss_quote})")
    elif loss == "other":
        unclear.append("training loss not recognised; set `loss` by hand")
    layers = hyperparameters.get("n_layers")
    preferred = str(layers.value) if layers is not None and layers.source == "paper" else None
    # the names the experiments print before "dataset" may also label a results table's columns
    also = [name for name in _ordered_unique(named_in_prose(experiments))
            if not names_other_model(name, own_name) and name.lower() != own_name.lower()]
    reported = find_reported([*doc.tables, *read_back], own_name, datasets, metrics, preferred, also)
    if reported:  # the main results table names the datasets of the main experiments
        datasets = _ordered_unique([r.dataset for r in reported])
    else:  # numbers given only in the text, often for one dataset of several: the datasets stay
        reported = reported_in_text(experiments, own_name, datasets, metrics)
    if reported:
        metrics = _ordered_unique([*metrics, *(r.metric for r in reported)])
        if reported[0].variant:
            unclear.append(
                f"reported: {reported[0].table} gives the method at several settings or variants; its best "
                "number per dataset and metric was taken (see each entry's `variant`)"
            )
    else:
        unclear.append("no results table with the method's numbers was read; `reported` is empty")
    return MethodSpec(
        paper=doc.meta,
        family=family,
        task=task,
        model_name=model_name,
        loss=loss,
        architecture=blocks,
        custom=custom,
        hyperparameters=hyperparameters,
        datasets=datasets,
        metrics=metrics,
        reported=reported,
        baselines_in_paper=baselines,
        unclear=unclear,
        fidelity=assessment.fidelity,
        reference=assessment.reference,
        protocol=read_protocol(doc, sentences, experiments),
    )
