"""Hyperparameters stated in a paper, each with a page-numbered quote; search grids go to `unclear`."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from paper_autotrain.schemas import HyperParameter

from .lexicon import KNOWN_MODELS, OPTIMIZERS
from .numbers import INT, INT_KEYS, INTW, NUM, parse_number, plausible
from .scope import CITED_WORK
from .settings_tables import by_dataset
from .text import Sentence, name_key, quote

SETTING = (
    r"(?:(?:is|are|was|were)\s+(?:(?:set|fixed|chosen)\s+(?:to|as|at)\s+|equal to\s+)?"
    r"|(?:set|fixed) (?:to|as|at)\s+|of\s+|as\s+|to\s+|\s?=\s*|:\s*)"
)
# the symbol a paper names a setting by, between its name and its value: "the number of layers L is set to 3"
SYMBOL_NAMED = r"(?:\s+[A-Za-zα-ω](?=\s))?"
CAUSES = r"conformity|cause-specific|disentangl|backbone models?"  # where a bare α or β weighs DICE's losses
SPARSE_LINEAR = r"elastic[- ]net|(?:ℓ1|l1|L1)[- ]?norm|sparse linear"  # where a bare β or λ is SLIM's


@dataclass(frozen=True)
class Rule:
    """A phrase that states one hyperparameter; `context` must also occur near the match, `unless` not in its
    sentence."""

    key: str
    pattern: str
    kind: str = "float"  # float | int | percent | zero | one | list
    context: str | None = None
    unless: str | None = None


RULES: tuple[Rule, ...] = (
    Rule(
        "embedding_size",
        rf"(?:embedding|latent)(?: vector| factor)? (?:size|dimension(?:ality)?|dim)s?\b[^.;]{{0,30}}?\b{SETTING}{INT}",
        "int",
    ),
    # "The number of latent dimensions d of all latent vectors (U,V,X) of OurRec and all other baselines is set to 100"
    Rule(
        "embedding_size",
        rf"number of latent (?:dimensions|factors)\b[^;]{{0,90}}?\b(?:is|was|are|were) (?:set|fixed) to\s+{INT}",
        "int",
    ),
    Rule("embedding_size", rf"(?:#|number of)\s*(?:latent )?dimensions?(?: [a-z])?\s*=\s*{INT}", "int"),
    Rule("embedding_size", rf"\bembedded (?:with|into|in|as) {INT}[- ](?:floats|dimensions|dimensional)", "int"),
    Rule(
        "embedding_size",
        r"(?:size|dimension(?:ality)?) of (?:the |all )?(?:[\w/-]+ ){0,3}?"
        rf"(?:embeddings?|latent (?:vectors?|factors?))(?: [a-z])?\s+{SETTING}{INT}",
        "int",
    ),
    Rule("embedding_size", rf"\b{INT}-dimensional (?:embedding|latent)", "int"),
    Rule(
        "embedding_size",
        rf"dimension(?:ality)? of (?:the )?(?:latent (?:representation|factors?|vectors?|space)"
        rf"|embeddings?)(?: \w)?\s+{SETTING}{INT}",
        "int",
    ),
    Rule("learning_rate", rf"learning rate(?: [α-ωηa-z])?\s+{SETTING}{NUM}"),
    Rule("learning_rate", rf"(?<![\w-])lr\s*(?:=|:)\s*{NUM}"),
    # "the learning rate of OurRec for all datasets is set to 0.05"
    Rule("learning_rate", rf"learning rate (?:of|for) [^.;,]{{1,40}}?\b(?:is|was) (?:set|fixed) (?:to|as)\s+{NUM}"),
    Rule("batch_size", rf"(?:mini-?)?batch[- ]size(?: \w)?\s+{SETTING}{INT}", "int"),
    Rule("batch_size", rf"batch(?:es)? of {INT} (?:users|examples|samples|sequences|instances)", "int"),
    Rule(
        "n_layers",
        rf"\b(?:use|used|employ|employed|adopt|adopted|stack|stacked)\s+(?:a |an )?{INTW}\s+"
        r"(?:[\w-]+\s+){0,2}?(?:layers?|blocks?)\b",
        "int",
    ),
    Rule(
        "n_layers",
        rf"\b(?:K|L)\s+(?:equals?|is|=)(?: to| set to)?\s+{INT}",
        "int",
        context=r"\b(?:K|L) (?:is|denotes) the number of (?:[\w-]+ )?layers",
    ),
    Rule("n_layers", rf"\b{INTW} layers? of [\w ]{{1,30}}?(?:was|were|is) found to be the best", "int"),
    # "The default number of hops is set to 2" (a memory network's hops, a GNN's layers)
    Rule("n_layers", rf"number of (?:[\w-]+ ){{0,2}}?(?:layers|hops|blocks){SYMBOL_NAMED}\s+{SETTING}{INT}", "int"),
    Rule("n_layers", rf"\bwith (?:a |an )?{INTW},?\s+(?:[\w-]+\s+){{0,2}}?hidden layers?\b", "int"),
    Rule("n_layers", rf"\bwith {INTW} layers of\b", "int"),  # "A ... Model with five layers of Residual Units"
    Rule(
        "l2_reg",
        rf"(?:L2|ℓ2|l2)[- ]?(?:regulari[sz]ation|regulari[sz]er|norm|penalty)[^;]{{0,160}}?"
        rf"(?:optimal value is|{SETTING}){NUM}",
    ),
    Rule("l2_reg", rf"weight decay\s+{SETTING}{NUM}"),
    Rule(
        "l2_reg",
        rf"regulari[sz]ation (?:coefficient|weight|strength|parameter|rate)s?(?: [λα-ω])?\s+(?:is\s+)?{SETTING}{NUM}",
    ),
    Rule("l2_reg", r"(?:do|did) not (?:apply|use) (?:any )?(?:weight decay|L2 regulari[sz]ation)", "zero"),
    # not a graph model's node, message or edge dropout (another regulariser, often an ablation's)
    Rule(
        "dropout",
        rf"(?<!node )(?<!message )(?<!edge )dropout(?: [\w-]+){{0,5}}?\s*(?:\bis|=|:|\bof|\bto|\bas|\bwas|\bset to)"
        rf"\s*{NUM}",
    ),
    Rule("dropout", rf"dropout[^.;]{{0,40}}?with (?:a )?probability (?:of )?{NUM}"),
    # a graph model's own dropouts, read apart (NGCF's message and node dropout: the ngcf_propagation block's)
    Rule("message_dropout", rf"message dropout(?: ratio| rate| probability)?(?: p\d)?\s*{SETTING}{NUM}"),
    Rule("node_dropout", rf"node dropout(?: ratio| rate| probability)?(?: p\d)?\s*{SETTING}{NUM}"),
    # a metric loss's margin and CML's covariance weight: "We set m = 0.5, λf = 1 and λc = 10" (a bare `m` only
    # beside another λ setting or the word margin)
    Rule("margin", rf"\b(?:safety )?margin(?: size)?(?: m)?\s+{SETTING}{NUM}"),
    Rule("margin", rf"\bmargin (?:γ|gamma|m) of (?:the )?(?:[\w-]+ )?loss\s+{SETTING}{NUM}"),  # "γ of hinge loss is"
    Rule("margin", rf"(?<![\w.])m\s*=\s*{NUM}", context=r"\bmargin|λ\s*_?[a-z]?\s*="),
    Rule("covariance_weight", rf"(?:λ|\\?lambda)\s*_?\{{?c\}}?\s*=\s*{NUM}", context=r"covariance|λ\s*_?[a-z]?\s*="),
    # an item-similarity model's normalisation exponent: "the normalization exponent α is set to 0.5" (FISM, NAIS)
    Rule("alpha", rf"(?<!\w)(?:α|\\?alpha)\s*{SETTING}{NUM}", context=r"normali[sz]|agreement"),
    # NAIS's attention: "the smoothing exponent β is set to 0.5", "the attention factor is 16"
    Rule("beta", rf"(?<!\w)(?:β|\\?beta)\s*{SETTING}{NUM}", context=r"smooth"),
    Rule("attention_size", rf"attention (?:factor|size)(?: \w)?\s+{SETTING}{INT}", "int"),
    # ConvNCF's convolutions: "the number of feature maps in each convolution layer is 32"
    Rule("conv_channels", rf"(?:number of )?(?:feature maps|channels|convolution kernels)(?: (?:in|of|per) "
         rf"(?:each|every) (?:hidden |convolution(?:al)? )?layer)?\s+{SETTING}{INT}", "int",
         context=r"convolution|CNN"),
    # ENMF's uniform weight of the missing data: "the negative weight c0 is set to 0.1"
    Rule("missing_weight", rf"(?:negative|missing[- ]data|unobserved[- ]data) weight(?: c_?0)?\s+{SETTING}{NUM}",
         context=r"missing|non-?sampling|whole[- ]data|without sampling|\bc_?0\b"),
    # knowledge-aware models: the relation space's size (CKE's TransR), KGCN's receptive field and neighbour sample
    Rule("relation_embedding_size",
         rf"(?:dimension(?:ality)?|size) of (?:the )?relation (?:space|embeddings?)(?: k)?\s+{SETTING}{INT}", "int"),
    Rule("n_iter", rf"depth of (?:the )?receptive field(?: H)?\s+{SETTING}{INT}", "int"),
    Rule("n_iter", rf"number of (?:aggregation )?iterations(?: H)?\s+{SETTING}{INT}", "int"),
    Rule("neighbor_sample_size", rf"neighbou?r sampl(?:e|ing) size(?: K)?\s+{SETTING}{INT}", "int"),
    Rule("neighbor_sample_size", rf"\bsample {INTW} neighbou?rs\b", "int"),
    # RippleNet: "the maximal hop number H is 2", "the size of the ripple set in each hop is 32"
    Rule("n_hop", rf"(?:maximal |maximum )?(?:number of hops|hop number)(?: H)?\s+{SETTING}{INT}", "int"),
    Rule("n_memory", rf"size of (?:the |each )?ripple sets?(?: (?:in|of|per|at) (?:each|every) hop)?(?: m)?"
                     rf"\s+{SETTING}{INT}", "int"),
    # DICE's loss weights, "We set α as 0.1 and β as 0.01" (ACM's template sets Greek in math italic, 𝛼 and 𝛽), and its
    # curriculum, "decaying margin values, as well as loss weights α, by a factor of 0.9 after each epoch"
    Rule("cause_weight", rf"(?<!\w)(?:α|𝛼|𝜶|\\?alpha)\s*{SETTING}{NUM}", context=CAUSES),
    Rule("discrepancy_weight", rf"(?<!\w)(?:β|𝛽|𝜷|\\?beta)\s*{SETTING}{NUM}", context=CAUSES),
    Rule("curriculum_decay", rf"\bdecay\w*[^.;]{{0,80}}?\bby a factor of\s+{NUM}", context=r"curriculum|easy-to-hard"),
    # gradient clipping by norm: "The gradient is clipped if the norm exceeds 5", "gradients clipped at a norm of 5"
    Rule("grad_clip", rf"gradients? (?:is |are )?clipped (?:if|when|whenever) (?:the |its |their )?"
                      rf"(?:gradient )?norms? exceeds?\s+{NUM}"),
    Rule("grad_clip", rf"(?:clip(?:ping|ped)? (?:the )?gradients?|gradients? (?:norms? )?(?:is |are |were )?clipped)"
                      rf"(?: norms?)? (?:at|to) (?:a )?(?:maximum )?(?:norm )?(?:of )?{NUM}"),
    # iALS's confidence c = 1 + alpha r ("setting alpha = 40", beside what alpha controls) and its log form's eps
    Rule("confidence_alpha", rf"(?<!\w)(?:α|\\?alpha)\s*{SETTING}{NUM}", context=r"confidence|rate of increase"),
    Rule("epsilon", rf"(?<!\w)(?:ϵ|ε|\\?epsilon)\s*{SETTING}{NUM}", context=r"confidence|log(?:arithmic)? scal"),
    # item-item models fitted once: the L2 weight of the weight matrix (EASE's lambda, SLIM's beta), SLIM's L1 weight
    # (its lambda), ItemKNN's neighbourhood size and shrinkage; a bare λ or β only beside what it weighs
    Rule("l2_weight", rf"(?:λ|\\?lambda)\s*{SETTING}{NUM}",
         context=r"closed[- ]form|zero diagonal|diag(?:onal)?\s*\(\s*B|Gram matrix"),
    Rule("l2_weight", rf"(?:β|\\?beta)\s*{SETTING}{NUM}", context=SPARSE_LINEAR),
    Rule("l1_weight", rf"(?:λ|\\?lambda)\s*{SETTING}{NUM}", context=SPARSE_LINEAR),
    Rule("neighbors", rf"(?:number|size) of (?:the )?(?:nearest )?neighbo(?:u)?r(?:s|hood)(?: size)?(?: [kK])?"
                      rf"\s+{SETTING}{INT}", "int"),
    Rule("neighbors", rf"\b[kK]\s*=\s*{INT}(?=[^.;]{{0,40}}(?:most similar|nearest|neighbo))", "int"),
    Rule("shrink", rf"shrink(?:age)?(?: term| parameter| factor| constant)?(?: [a-zα-ω])?\s+{SETTING}{NUM}"),
    # the cloze task's mask proportion: "the mask proportion ρ is set to 0.2", "masking ratio of 0.4"
    Rule("mask_ratio", rf"mask(?:ing)? (?:proportion|ratio|probability|rate)(?: (?:ρ|rho|p))?\s+{SETTING}{NUM}"),
    Rule("dropout", r"dropout[^.;]{0,40}?with (?P<v>\d{1,2})% drop", "percent"),
    Rule("dropout", r"(?<![\d.])(?P<v>\d{1,2})% dropout\b", "percent"),
    Rule("max_seq_length", rf"max(?:imum)? (?:sequence )?length(?: \w)?\s+{SETTING}{INT}", "int"),
    # "The length of sequence L is set to 5", "The Markov order L is 5", "a maximum bag size of 50 recent watches"
    Rule("max_seq_length", rf"length of (?:the )?(?:input |item )?sequences?(?: \w)?\s+{SETTING}{INT}", "int"),
    Rule("max_seq_length", rf"\bMarkov order(?: \w)?\s+{SETTING}{INT}", "int"),
    Rule("max_seq_length", rf"max(?:imum)? (?:bag|history|window) (?:size|length)(?: \w)?\s+{SETTING}{INT}", "int"),
    Rule("n_heads", rf"(?:number of (?:attention )?heads|heads)(?: \w)?\s+{SETTING}{INT}", "int"),
    Rule("n_heads", rf"\b(?:use|used|employ)\s+{INTW}\s+(?:(?:self-)?attention )?heads\b", "int"),
    Rule("n_heads", rf"\b{INTW}\s+(?:self-)?attention heads\b", "int"),
    Rule(
        "n_heads",
        r"(?:worse than|inferior to|(?:we|our model) (?:use|uses|used|adopt|adopts|adopted|employ|employs))"
        r" (?:a |the )?(?:single|one)[- ]head(?:ed)? (?:self-)?attention",
        "one",
    ),
    Rule(
        "hidden_size",
        rf"hidden (?:layers?|units|size|state size|dimension)(?: \w+){{0,2}}?\s+{SETTING}{INT}",
        "int",
    ),
    Rule("hidden_size", rf"\b{INT}-dimensional hidden layer", "int"),
    Rule(
        "negative_samples",
        rf"\b(?:sample|sampled|sampling|generate|generated|draw|drew|drawn)\s+"
        rf"(?:several\s+\(?)?{INTW}(?: in our experiments\))?\s+(?:[\w-]+\s+)?negative "
        r"(?:instances?|items?|samples?|examples?)",
        "int",
    ),
    Rule(
        "negative_samples",
        rf"\b{INTW} negative (?:instances|items|samples|examples) (?:per|for each) positive",
        "int",
    ),
    Rule("negative_samples", rf"negative sampling (?:ratio|rate|number)\s+{SETTING}{INT}", "int"),
    Rule(
        "negative_samples",
        rf"number of negative (?:samples|instances|items|examples)(?: (?:per|for each|for every) [\w ]{{1,20}}?)?\s+"
        rf"(?:is\s+)?{SETTING}{INT}",
        "int",
    ),
    # "we randomly sample a negative instance ... to pair with each positive instance"
    Rule(
        "negative_samples",
        r"\b(?:sample|sampled|draw|drew|pair)\w*\s+(?:a|one)\s+(?:random\s+)?negative"
        r" (?:instance|item|sample|example)\b",
        "one",
    ),
    Rule("epochs", rf"\b{INT} epochs (?:are|is|were) (?:sufficient|enough)", "int"),
    Rule("epochs", rf"\btrain(?:ed)? (?:[\w-]+ ){{0,3}}?for (?:at most |up to |a maximum of )?{INT} epochs", "int"),
    Rule(
        "epochs",
        rf"(?:number of )?(?:training )?epochs{SYMBOL_NAMED}\s+(?:(?:is|was) (?:set to |fixed to )?|set to|fixed to|=)"
        rf"\s*{INT}",
        "int",
    ),
    Rule("epochs", rf"number of (?:sweeps|epochs) (?:is|was)\s+{INT}", "int"),
    # a tower's sizes: three to six numbers joined by arrows or hyphens, or two by arrows ("200 → 80"; two joined
    # by a hyphen read as a range); the list may close the sentence ("256 -> 128 -> 64."), not run into a decimal
    Rule(
        "mlp_layers",
        r"(?P<v>\d{1,4}(?:(?:\s*(?:→|->|-)\s*\d{1,4}){2,5}|\s*(?:→|->)\s*\d{1,4}))(?!\d|\.\d)",
        "list",
        context=r"architecture|layers|network structure|tower",
    ),
    # a tower of ReLU layers named by their widths, "a 1024-wide ReLU followed by a 512-wide ReLU" (YouTube DNN's
    # chosen tower; its "Depth 2: 512 ReLU → 256 ReLU" lines are the grid it was chosen from)
    Rule(
        "mlp_layers",
        r"(?P<v>\d{1,4}-\s?wide ReLU(?:\s+followed by (?:a )?\d{1,4}-\s?wide ReLU){1,5})",
        "list",
    ),
)

# Settings named right before their value, with no verb, in a sentence about training: "we optimize it by Adam with
# learning rate 0.001 and batch size 256" (not a list "batch size 256, 512 and 1024", not a comparison of settings)
TRAINS = r"\b(?:train\w*|optimi[sz]\w*|fit\w*|use[ds]?|adopt\w*|employ\w*|run)\b"
BARE_NAMES: tuple[tuple[str, str, str], ...] = (
    ("learning_rate", r"(?:initial )?learning rate", NUM),
    ("batch_size", r"(?:mini-?)?batch[- ]size", INT),
    ("dropout", r"(?<!node )(?<!message )(?<!edge )dropout(?: rate| ratio)?", NUM),
    ("l2_reg", r"weight decay|(?:L2|ℓ2) regulari[sz]ation(?: weight| coefficient)?", NUM),
    ("embedding_size", r"embedding (?:size|dimension)", INT),
    ("hidden_size", r"hidden (?:size|dimension)", INT),
)
COMPARING = r"\b(?:perform\w*|better|worse|best|compar\w+|vary\w*|varied|increas\w*|decreas\w*|effect|impact)\b"
RULES = (*RULES, *(
    Rule(key, rf"{TRAINS}(?:[^.;]|\.\d){{0,60}}?\b(?:with|using|and)\s+(?:an?\s+|the\s+)?(?:{name})\s+{value}"
              r"(?!\s*(?:,|and|or|to|-|–)\s*\d)", "int" if value == INT else "float", unless=COMPARING)
    for key, name, value in BARE_NAMES
))

# key -> phrase that introduces a search grid for it ("learning rate of [0.0001, ..., 0.005]").
GRID_PHRASES: dict[str, str] = {
    "embedding_size": r"(?:embedding size|latent dimensions?|dimensions? d|factors)",
    "learning_rate": r"learning rate",
    "batch_size": r"batch size",
    "l2_reg": r"(?:L2|ℓ2|regulari[sz]ation|regulari[sz]er|weight decay|λ)",
    "dropout": r"(?<!node )(?<!message )(?<!edge )dropout(?: ratio| rate)?",
    "message_dropout": r"message dropout(?: ratio| rate)?",
    "node_dropout": r"node dropout(?: ratio| rate)?",
    # K the symbol (not a word's k, "networks"), not a size's symbol ("the latent representation dimension K")
    "n_layers": r"(?:number of layers|layers|(?<!dimension )(?<!size )(?-i:\bK\b))",
}
GRID_OF_NUMBERS = r"[\[{]\s*\d[^\]}]{2,80}[\]}]"  # a grid of numbers, not a citation ("as in [Zhang et al., 2016]")
GRID_TAIL = (
    r"[^.;]{0,50}?(?:in|from|of|among(?:st)?|within|over|tested|searched|tuned|varied|chosen|selected|∈)\s*"
    r"(?:the range of\s+)?"
    rf"(?P<g>{GRID_OF_NUMBERS})"
)

OPTIMISING_VERBS = re.compile(r"optimi[sz]|train|learn|adopt|\buse|updat|algorithm|found|optimizer", re.I)
CONDITIONAL = re.compile(r"\b(?:if|suppose|for (?:example|instance))\b[^.;]*$", re.I)
PER_DATASET = re.compile(r"\b(?:for|on) (?:the )?[A-Z][\w-]+[^.;]{0,40}?\band \S*\d\S* (?:for|on)\b")


def _value(rule: Rule, match: re.Match[str]) -> object:
    if rule.kind == "zero":
        return 0.0
    if rule.kind == "one":
        return 1
    raw = match.group("v")
    if rule.kind == "list":
        return [int(n) for n in re.findall(r"\d+", raw)]
    if rule.kind == "percent":
        return int(raw) / 100
    value = parse_number(raw)
    return int(value) if rule.kind == "int" else float(value)


def _inside_brackets(text: str, position: int) -> bool:
    before = text[:position]
    return before.count("[") + before.count("{") > before.count("]") + before.count("}")


# A clause about the methods compared with, not the paper's own: "For all baselines, ...", "For IPS based models, we
# fix the embedding size as 128" (unless it also names the paper's method: "for CausE and DICE, ...").
ABOUT_OTHERS = re.compile(
    r"\b[Ff]or (?:all |the |other |these |those |each of the )*(?:baselines?|compared (?:methods|models|approaches)"
    r"|competitors|competing (?:methods|models)|comparison methods|other (?:methods|models))\b"
)
NAMED_GROUP = re.compile(
    r"\b[Ff]or (?:the )?(?P<name>[A-Z][\w-]*)(?:[- ]based)? (?:models|methods|baselines|variants)\b"
)


def names_own_model(text: str, model_name: str) -> bool:
    own = name_key(model_name)
    return bool(own) and any(name_key(word) == own for word in re.findall(r"[\w&+-]+", text)) or bool(
        model_name and re.search(rf"(?<![\w-]){re.escape(model_name)}(?![\w-])", text)
    )


def about_other_model(sentence: str, model_name: str, others: tuple[str, ...] = ()) -> bool:
    """True when a sentence states settings for a compared method ("For BPR, FMC ..., ", "for Mult-DAE", "For all
    baselines", "For IPS based models")."""
    own = name_key(model_name)
    if names_own_model(sentence, model_name):
        return False  # "for CausE and DICE, the embedding size is fixed as 64": the method's too
    if ABOUT_OTHERS.search(sentence) or (
        (group := NAMED_GROUP.search(sentence)) and name_key(group.group("name")) != own
    ):
        return True
    for name in (*KNOWN_MODELS, *others):
        plain = name_key(name)
        if own and (plain == own or plain in own and len(plain) >= 4):
            continue
        flags = re.I if len(name) >= 4 else 0
        if re.search(rf"(?:^|\bfor |\bFor )(?:the )?{re.escape(name)}(?![\w-])", sentence, flags):
            return True
    return False


def names_other_model(text: str, model_name: str, others: tuple[str, ...] = ()) -> bool:
    """True when `text` ("latent dimension of FM is 10") names a compared method other than the paper's own: one the
    lexicon knows, or one of `others` (the methods the paper's results tables compare with)."""
    own = name_key(model_name)
    return any(
        re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
        and name_key(name) != own
        for name in (*KNOWN_MODELS, *others)
    )


def clause_at(text: str, position: int) -> str:
    """The ';'-separated part of a sentence around `position` ("(1) dropout: 0.5; (2) ...; tanh for IPNN")."""
    start = text.rfind(";", 0, position) + 1
    end = text.find(";", position)
    return text[start : end if end >= 0 else len(text)]


def _window(sentences: list[Sentence], index: int) -> str:
    return " ".join(s.text for s in sentences[max(0, index - 1) : index + 2])


# Several settings in one statement: "the embedding size and the batch size are set to 64 and 512, respectively",
# "we set the learning rate, batch size and dropout to 0.001, 1024 and 0.1 respectively", "both the hidden size and the
# embedding size are set to 100". Each name is read to its key; a name no key reads leaves the statement to RULES.
SETTING_NAMES: tuple[tuple[str, str], ...] = (
    (r"learning rate", "learning_rate"),
    (r"batch[- ]size", "batch_size"),
    (r"hidden (?:size|units|dimension|state size)", "hidden_size"),
    (r"embedding (?:size|dimension(?:ality)?)|latent (?:dimension|factors)|dimension(?:ality)? of (?:the )?embedding",
     "embedding_size"),
    (r"(?:number of )?(?:attention )?heads", "n_heads"),
    (r"number of (?:[\w-]+ )?layers", "n_layers"),
    (r"(?<!node )(?<!message )(?<!edge )dropout(?: ratio| rate)?", "dropout"),
    (r"(?:L2|ℓ2) (?:regulari[sz]ation|coefficient|penalty|weight)|regulari[sz]ation (?:coefficient|weight)"
     r"|weight decay", "l2_reg"),
    (r"(?:number of )?(?:training )?epochs", "epochs"),
    (r"(?:max(?:imum)? )?sequence length", "max_seq_length"),
)
VALUE = r"\d+(?:\.\d+)?(?:[eE]-?\d+)?"
_VALS = rf"(?P<vals>{VALUE}(?:\s*,\s*{VALUE})*,?\s+and\s+{VALUE})"
LISTED = (
    re.compile(rf"(?P<names>[^.;:]{{3,160}}?)\s+(?:are|were)\s+(?:(?:set|fixed|chosen) (?:to|as|at)\s+)?{_VALS}"
               r",?\s*respectively"),
    re.compile(rf"\bset (?P<names>[^.;:]{{3,160}}?)\s+(?:to|as)\s+{_VALS},?\s*respectively"),
)
BOTH = re.compile(r"\b(?i:both|all) (?P<names>[^.;:]{3,120}?)\s+(?:are|were)\s+(?:(?:set|fixed) (?:to|as|at)\s+)?"
                  r"(?P<vals>\d+(?:\.\d+)?(?:[eE]-?\d+)?)(?!\s*(?:,|and|%)\s*\d)")


def _setting_key(name: str) -> str | None:
    return next((key for pattern, key in SETTING_NAMES if re.search(rf"\b(?:{pattern})\b", name, re.I)), None)


def listed_settings(text: str) -> list[tuple[str, float | int, int]]:
    """(key, value, position) of each setting a statement of several gives, in order; [] when `text` has none."""
    for pattern in (*LISTED, BOTH):
        match = pattern.search(text)
        if not match:
            continue
        names = [n for n in re.split(r",\s*(?:and\s+)?|\s+and\s+", match.group("names")) if n.strip()]
        values = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", match.group("vals").strip())
        if pattern is BOTH:
            values = values * len(names)
        keys = [_setting_key(name) for name in names]
        if len(names) >= 2 and len(keys) == len(values) and all(keys) and len(set(keys)) == len(keys):
            read = [(key, parse_number(value), match.start()) for key, value in zip(keys, values, strict=True)]
            return [(key, int(v) if key in INT_KEYS else float(v), at) for key, v, at in read]
    return []


def find_hyperparameters(
    sentences: list[Sentence], model_name: str, keys: set[str] | None = None, others: tuple[str, ...] = ()
) -> tuple[dict[str, HyperParameter], list[str]]:
    """The first plausible statement of each hyperparameter, and notes about per-dataset values."""
    found: dict[str, HyperParameter] = {}
    notes: list[str] = []
    for index, sentence in enumerate(sentences):
        text = readable(sentence.text)
        listed = listed_settings(text)
        if listed and not about_other_model(sentence.text, model_name, others):
            for key, value, at in listed:
                if key not in found and (keys is None or key in keys) and plausible(key, value):
                    found[key] = HyperParameter(value=value, source="paper", evidence=quote(sentence, at))
            continue  # its values are the listed ones, not the first number after each name
        for rule in RULES:
            if rule.key in found or (keys is not None and rule.key not in keys):
                continue
            match = re.search(rule.pattern, text, re.I if rule.kind != "list" else 0)
            if not match or EQUATION.search(match.group(0)):
                continue  # no match, or a value read across an equation ("... term where λ ... ∑ ... i=1")
            if about_other_model(clause_at(sentence.text, match.start()), model_name, others):
                continue
            if rule.kind != "list" and names_other_model(match.group(0), model_name, others):
                continue  # "the latent dimension of FM is 10" states a compared method's setting
            clause = clause_at(sentence.text, match.start())
            if (rule.kind != "list" and names_other_model(clause, model_name, others) and not ALL_METHODS.search(clause)
                    and not names_own_model(clause, model_name) and not FIRST_PERSON.search(clause)):
                continue  # "NeuMF feeds an MLP with three hidden layers": a description of a compared method
            if rule.context and not re.search(rule.context, _window(sentences, index), re.I):
                continue
            if rule.unless and re.search(rule.unless, sentence.text, re.I):
                continue
            if rule.kind != "list" and CONDITIONAL.search(sentence.text[: match.start()]):
                continue  # "if the factors are 8, the embedding size is 16" is an example, not the setting
            if _inside_brackets(sentence.text, match.start("v") if "v" in match.groupdict() else match.start()):
                continue  # a member of a search grid
            if "v" in match.groupdict() and range_end(text, match.start("v"), match.end("v")):
                continue  # "in the range of 16 to 128": an end of a sweep, not the setting
            figure = FIGURE.search(sentence.text[: match.start()])
            if (figure and SWEEP_WORDS.search(sentence.text[figure.start() : match.end()])) or (
                "v" in match.groupdict() and AXIS.match(text, match.end("v"))
            ):
                continue  # a figure of results over a setting, or its axis ("dropout ratio 0 0.1 0.2"), not a setting
            value = _value(rule, match)
            if not plausible(rule.key, value):
                continue
            found[rule.key] = HyperParameter(
                value=value, source="paper", evidence=quote(sentence, match.start())
            )
            # per dataset within the value's own ';'-clause: "clipped if the norm exceeds 5; ...; batch size 128 for
            # A and 256 for B" states per-dataset batch sizes only
            if PER_DATASET.search(sentence.text[match.start() :].split(";", 1)[0]):
                notes.append(
                    f"{rule.key} differs by dataset in the paper ({quote(sentence, match.start())}); "
                    f"using the first value {value}"
                )
    if keys is None:
        owned, owned_notes = find_owned_values(sentences, model_name, set(found))
        found.update(owned)
        notes += owned_notes
        found.update(find_symbol_values(sentences, model_name, set(found), others))
        for key, (entry, note) in find_respective_values(sentences, model_name, set(found), others).items():
            found[key] = entry
            notes.append(note)
    return found, notes


# "we used the LightGCN with 4 layers and IPM-GCN with 3 subgraphs and 6 layers, which are their optimal setting on
# Kindle Store": the settings a sentence gives each model it names, "<name> with N <things> (and M <things>)"; the
# paper's own model's are its values, a compared model's beside them are not (a footnote mark may follow a noun)
COUNT = r"(?:\d{1,3}|two|three|four|five|six|seven|eight|nine|ten) (?P<noun>[a-z-]+)\d{0,2}"
OWNED = re.compile(rf"(?P<owner>[A-Za-z][\w-]*) with (?P<counts>{COUNT.replace('?P<noun>', '')}"
                   rf"(?:(?:,\s*|\s+)(?:and\s+)?{COUNT.replace('?P<noun>', '')})*)")
OWNED_NOUNS = {"layers": "n_layers", "subgraphs": "n_subgraphs", "sub-graphs": "n_subgraphs", "heads": "n_heads"}
ON_DATASET = re.compile(r"\b(?:on|for) (?:the )?(?P<name>[A-Z][\w&-]*(?: [A-Z][\w&-]*){0,2})")


def misspelt(word: str, own: str) -> bool:
    """`word` is the name `own` with two neighbouring letters swapped ("IPM-GCN" for "IMP-GCN"), a slip papers make
    in their own model's name."""
    a, b = name_key(word), name_key(own)
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y] if len(a) == len(b) else []
    return len(b) >= 4 and len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
        and a[diff[1]] == b[diff[0]]


def find_owned_values(sentences: list[Sentence], model_name: str, skip: set[str]
                      ) -> tuple[dict[str, HyperParameter], list[str]]:
    """Counts stated for the paper's own model by name ("OurRec with 3 subgraphs and 6 layers"), and a note where the
    sentence ties them to one dataset ("optimal setting on Kindle Store")."""
    found: dict[str, HyperParameter] = {}
    notes: list[str] = []
    for sentence in sentences:
        for match in OWNED.finditer(sentence.text):
            owner = match.group("owner")
            if not model_name or not (name_key(owner) == name_key(model_name) or misspelt(owner, model_name)):
                continue
            for count in re.finditer(COUNT, match.group("counts")):
                key = OWNED_NOUNS.get(count.group("noun"))
                if key is None or key in skip or key in found:
                    continue
                value = int(parse_number(count.group(0).split()[0]))
                if not plausible(key, value):
                    continue
                found[key] = HyperParameter(value=value, source="paper", evidence=quote(sentence, match.start()))
                dataset = ON_DATASET.search(sentence.text, match.end())
                if dataset:
                    notes.append(f"{key}: the paper states {value} for {dataset.group('name')} "
                                 f"({quote(sentence, match.start())}); used for every dataset")
    return found, notes


EQUATION = re.compile(r"[∑∏∫∥Φ]")
FIGURE = re.compile(r"\bFig(?:ure|\.)\s*\d+\s*[:.]|\([xy]-axis\)", re.I)
SWEEP_WORDS = re.compile(r"\bvs\.?|versus|w\.r\.t|effects? of|impact of|performance|varying|different|sensitivity"
                         r"|comparison|[xy]-axis", re.I)
AXIS = re.compile(r"(?:\s+-?\d*\.?\d+){2}\b")  # the value is the first of a run of numbers


def readable(text: str) -> str:
    """The sentence with "e.g." and "i.e." written without their inner stops (same length: positions hold), so a
    phrase runs on past them: "embedding vector dimension for all fields, e.g. K= 16"."""
    return text.replace("e.g.", "e g,").replace("i.e.", "i e,")


# "we use 50 and 100 for ML-1M and Gowalla respectively", "d to 40, 50 and 50 for the Epinions, citeulike-a and
# Pinterest datasets respectively": one value per dataset, in order.
RESPECTIVELY = (
    r"[^;]{0,90}?\b(?:we use|use|used|set (?:it |them )?(?:to|as)|(?:is|are|was|were) (?:set|fixed) (?:to|as)|to|as)"
    r"\s+"
    rf"(?P<vals>{VALUE}(?:\s*,\s*{VALUE})*,?\s+and\s+{VALUE})\s+for\s+(?:the\s+)?(?P<names>[^;]{{1,90}}?)"
    r",?\s+(?:data ?sets?\s+)?respectively"
)


def find_respective_values(
    sentences: list[Sentence], model_name: str, skip: set[str], others: tuple[str, ...] = ()
) -> dict[str, tuple[HyperParameter, str]]:
    """Per-dataset values given with "respectively": the first dataset's value, and a note with all of them."""
    found: dict[str, tuple[HyperParameter, str]] = {}
    for sentence in sentences:
        if "respectively" not in sentence.text:
            continue
        text = readable(sentence.text)
        for key, phrase in GRID_PHRASES.items():
            if key in skip or key in found:
                continue
            match = re.search(phrase + RESPECTIVELY, text, re.I)
            if not match or about_other_model(clause_at(text, match.start()), model_name, others):
                continue
            values = [parse_number(v) for v in re.findall(VALUE, match.group("vals"))]
            names = [n.strip() for n in re.split(r",\s*(?:and\s+)?|\s+and\s+", match.group("names")) if n.strip()]
            if len(values) != len(names) or not all(plausible(key, v) for v in values):
                continue
            kind = int if key in INT_KEYS else float
            evidence = quote(sentence, match.start())
            per_dataset = ", ".join(f"{name}: {value}" for name, value in zip(names, values, strict=True))
            found[key] = (
                HyperParameter(value=by_dataset(names, [kind(v) for v in values]), source="paper", evidence=evidence),
                f"{key} differs by dataset in the paper ({per_dataset}; {evidence}); a run uses its dataset's value "
                "(the first where none is its dataset)",
            )
    return found


# key -> what a symbol means when the paper defines it ("d is the latent dimensionality").
SYMBOL_MEANINGS: dict[str, str] = {
    "embedding_size": r"(?:latent|embedding)(?: vector)? (?:dimensionality|dimensions?|size)"
    r"|(?:dimensionality|dimension|size) of (?:the )?(?:latent|embedding)",
    "n_layers": r"number of (?:[\w-]+ ){0,2}?(?:layers|blocks)",
    "n_heads": r"number of (?:attention )?heads",
    "max_seq_length": r"maxim(?:um|al) (?:sequence )?length",
    "negative_samples": r"number of negative (?:samples|items|instances)",
    "hidden_size": r"number of hidden (?:units|neurons)|hidden (?:layer )?(?:size|dimension(?:ality)?)",
}
# "a single, k-dimensional hidden layer": the symbol before "-dimensional" and what it sizes
DIMENSIONAL = re.compile(r"(?<![\w/])(?P<s>[A-Za-zα-ω])-dimensional (?P<what>hidden|latent|embedding)")
SYMBOL = r"(?P<s>[A-Za-zα-ω])"
NOT_SYMBOLS = frozenset({"a", "A", "I"})
ABOUT_ANOTHER = re.compile(r"\s*(?:in|for|of)\s+(?:\[|[A-Z][\w-]+)")  # "d = 512 in Transformer"


def symbol_meanings(sentences: list[Sentence]) -> dict[str, str]:
    """Symbols the paper defines for a hyperparameter: 'where d is the latent dimensionality' -> d."""
    votes: dict[str, Counter[str]] = {}
    for sentence in sentences:
        for key, meaning in SYMBOL_MEANINGS.items():
            forms = (
                rf"(?<![\w/]){SYMBOL}\s+(?:is|denotes|represents|stands for)\s+(?:the\s+)?(?:{meaning})",
                rf"\b(?:{meaning})\s+{SYMBOL}(?=[\s,.;:)])(?!\s*∈)",  # not the next row of a notation table
            )
            for form in forms:
                for match in re.finditer(form, sentence.text):
                    if match.group("s") not in NOT_SYMBOLS:
                        votes.setdefault(match.group("s"), Counter())[key] += 1
        for match in DIMENSIONAL.finditer(sentence.text):
            if match.group("s") not in NOT_SYMBOLS:
                key = "hidden_size" if match.group("what") == "hidden" else "embedding_size"
                votes.setdefault(match.group("s"), Counter())[key] += 1
    return {symbol: counts.most_common(1)[0][0] for symbol, counts in votes.items()}


def find_symbol_values(
    sentences: list[Sentence], model_name: str, skip: set[str], others: tuple[str, ...] = ()
) -> dict[str, HyperParameter]:
    """Values given to a defined symbol ('with d = 50'), when the sentence gives the symbol one value only."""
    found: dict[str, HyperParameter] = {}
    for symbol, key in symbol_meanings(sentences).items():
        if key in skip:
            continue
        pattern = rf"(?<![\w/]){re.escape(symbol)}\s*=\s*{INT}"
        for sentence in sentences:
            matches = list(re.finditer(pattern, sentence.text))
            if not matches or len({m.group("v") for m in matches}) > 1:
                continue  # no value, or a sweep ("d = 10 ... d = 50")
            match = matches[0]
            if (
                _inside_brackets(sentence.text, match.start())
                or CONDITIONAL.search(sentence.text[: match.start()])
                or ABOUT_ANOTHER.match(sentence.text, match.end())
                or about_other_model(clause_at(sentence.text, match.start()), model_name, others)
            ):
                continue
            value = int(match.group("v"))
            if plausible(key, value) and key not in found:
                found[key] = HyperParameter(value=value, source="paper", evidence=quote(sentence, match.start()))
                break
    return found


# the ends of a sweep: "in the range of 16 to 128", "ranging from 10 to 200", "between 0.1 and 0.5"
RANGE_BEFORE = re.compile(r"\b(?:range(?: of)?|ranging|from|between)\s*$", re.I)
RANGE_AFTER = re.compile(rf"\s*(?:to|and|-|–|~)\s*{NUM}")
RANGE_TAIL = rf"[^.;]{{0,50}}?\b(?:range(?: of)?|ranging from|from|between)\s*{NUM.replace('?P<v>', '?P<lo>')}" \
    rf"\s*(?:to|and|-|–|~)\s*{NUM.replace('?P<v>', '?P<hi>')}"
SWEEP_VERBS = re.compile(r"\b(?:vary|varied|varies|varying|range|ranging|search\w*|tun\w+|test\w*|evaluat\w+"
                         r"|differ\w*|explor\w+)\b", re.I)


def range_end(text: str, start: int, end: int) -> bool:
    """The number at text[start:end] is the first end of a range ("range of 16 to 128")."""
    return bool(RANGE_BEFORE.search(text[max(0, start - 20) : start]) and RANGE_AFTER.match(text, end))


GRID = re.compile(GRID_OF_NUMBERS)


def _respective_grids(sentence: str) -> dict[str, tuple[str, int]] | None:
    """"The learning rate and the L2 coefficient are searched in {A} and {B}, respectively": each named setting's own
    grid, in order; {} when the names and the grids do not pair one to one; None when the sentence is not of this
    form."""
    grids = list(GRID.finditer(sentence))
    if "respectively" not in sentence or len(grids) < 2:
        return None
    head = sentence[: grids[0].start()]
    named = sorted((m.start(), key) for key, phrase in GRID_PHRASES.items() if (m := re.search(phrase, head, re.I)))
    if len(named) != len(grids):
        return {}
    return {key: (grid.group(0), at) for (at, key), grid in zip(named, grids, strict=True)}


def _grid_in(sentence: str, key: str) -> tuple[str, int] | None:
    """The grid a sentence searches for a setting, "{16, 32, 64}", or a range "16 to 128" it varies it over, and
    where its statement starts."""
    respective = _respective_grids(sentence)
    if respective is not None:
        return respective.get(key)
    phrase = GRID_PHRASES[key]
    match = re.search(phrase + GRID_TAIL, sentence, re.I)
    if match:
        return match.group("g"), match.start()
    match = re.search(phrase + RANGE_TAIL, sentence, re.I)
    if match and SWEEP_VERBS.search(sentence):
        return f"the range {match.group('lo')} to {match.group('hi')}", match.start()
    return None


def find_grids(sentences: list[Sentence], stated: set[str], others: tuple[str, ...] = ()) -> list[str]:
    """Search grids for hyperparameters whose chosen value the paper does not state: recorded, the value unread."""
    notes = []
    seen: set[str] = set()
    for sentence in sentences:
        for key in GRID_PHRASES:
            if key in stated or key in seen:
                continue
            found = _grid_in(sentence.text, key)
            if found and not about_other_model(sentence.text, "", others):
                seen.add(key)
                notes.append(f"{key}: the paper searches {found[0]} without stating the chosen value "
                             f"({quote(sentence, found[1])})")
    return notes


def _per_part_optimizers(sentence: Sentence) -> list[str]:
    """Optimisers a sentence gives to different parts ("FTRL for the wide part, AdaGrad for the deep")."""
    names = sorted({name for pattern, name in OPTIMIZERS.items() if re.search(pattern, sentence.text)})
    parts = re.findall(r"\bfor the [\w-]+ (?:part|component|side|tower)", sentence.text)
    return names if len(names) >= 2 and len(parts) >= 2 else []


GENERAL_PRACTICE = re.compile(r"\b(?:often|usually|typically|commonly|generally|traditionally)\b", re.I)
FIRST_PERSON = re.compile(r"\b(?:we|our|us)\b", re.I)
# a value stated for every method compared, the paper's included: "the embedding size is fixed to 64 for all models"
ALL_METHODS = re.compile(
    r"\b(?:for|of|in) all (?:the )?(?:models|methods|approaches|compared|experiments)\b|\bsame as\b", re.I
)
MIN_OPTIMIZER_VOTES = 1.0


def _optimizer_weight(sentence: str) -> float:
    """What the paper says it does counts fully; what is common practice or another work's does not much."""
    if CITED_WORK.search(sentence) or re.search(r"\bsee,? e\.g\.", sentence):
        return 0.2
    if GENERAL_PRACTICE.search(sentence) and not FIRST_PERSON.search(sentence):
        return 0.2
    return 1.0


def _alternatives(clause: str) -> bool:
    """'optimizer (Adam or Adagrad)': optimisers offered as alternatives, not the one used."""
    names = [(m.start(), name) for pattern, name in OPTIMIZERS.items() for m in re.finditer(pattern, clause)]
    names.sort()
    return any(a != b and re.fullmatch(r"\W*\w*\W*\s+or\s+\W*", clause[i:j][len(clause[i:j].split()[0]):] + " ")
               is not None for (i, a), (j, b) in zip(names, names[1:], strict=False)) or bool(
        re.search(r"\b(?:or|either)\b", clause) and len({n for _, n in names}) >= 2
        and re.search(r"\([^)]*\bor\b[^)]*\)", clause)
    )


def _optimizer_votes(
    sentences: list[Sentence], model_name: str, others: tuple[str, ...] = ()
) -> tuple[Counter[str], dict[str, str]]:
    votes: Counter[str] = Counter()
    first_quote: dict[str, str] = {}
    for sentence in sentences:
        if not OPTIMISING_VERBS.search(sentence.text):
            continue
        weight = _optimizer_weight(sentence.text)
        for pattern, name in OPTIMIZERS.items():
            match = re.search(pattern, sentence.text)
            if not match:
                continue
            clause = clause_at(sentence.text, match.start())
            if about_other_model(clause, model_name, others) or _alternatives(clause):
                continue
            votes[name] += (2 if model_name and model_name in sentence.text else 1) * weight
            if re.search(rf"\bfound (?:that )?(?:{pattern})[^.]*\b(?:better|best)\b", sentence.text):
                votes[name] += 2  # "we found adagrad to give better results" settles a comparison
            first_quote.setdefault(name, quote(sentence, match.start()))
    return votes, first_quote


def find_optimizer(
    sentences: list[Sentence], model_name: str, preferred: list[Sentence] | None = None, others: tuple[str, ...] = ()
) -> tuple[HyperParameter | None, list[str]]:
    """The optimiser named most often about training the paper's own model (`preferred` sentences first),
    or none and a note when the paper trains different parts with different optimisers."""
    for sentence in sentences:
        names = _per_part_optimizers(sentence)
        if names:
            return None, [
                f"optimizer: the paper uses {' and '.join(names)} for different parts of the model "
                f"({quote(sentence)}); a single optimizer is not stated"
            ]
    for group in (preferred, sentences):
        if group is None:
            continue
        votes, first_quote = _optimizer_votes(group, model_name, others)
        if votes and votes.most_common(1)[0][1] >= MIN_OPTIMIZER_VOTES:
            name = votes.most_common(1)[0][0]
            return HyperParameter(value=name, source="paper", evidence=first_quote[name]), []
    return None, []


# an optimiser's own parameters set beside its name ("RMSProp ... with 0.9 for both decay and momentum", "momentum
# of 0.9"); not L2's weight decay, and not a mention without a value ("Adam needs to save momentum information")
_SETTING_WORD = r"(?:\bmomentum\b|(?<!weight )\bdecay\b|\b(?:β|beta)\s?_?[12]\b|\brho\b)"
OPTIMIZER_SETTINGS = re.compile(rf"{_SETTING_WORD}[^.;]{{0,20}}?\d|\d[^.;\d]{{0,40}}?{_SETTING_WORD}", re.I)
# each optimiser's own parameters a paper may state, by the word it uses -> the spec hyperparameter (one of
# schemas.OPTIMIZER_SETTINGS, which the runtime passes on as torch's argument)
OPTIMIZER_SETTING_KEYS: dict[str, dict[str, str]] = {
    "rmsprop": {"decay": "rmsprop_decay", "rho": "rmsprop_decay", "momentum": "momentum"},
    "sgd": {"momentum": "momentum"},
    "adam": {"beta1": "adam_beta1", "beta2": "adam_beta2", "epsilon": "adam_eps"},
}
_WORD = (r"(?P<w>momentum|(?<!weight )decay|rho|(?:β|beta)\s?_?\{?[12]\}?|(?:ε|ϵ|epsilon))"
         r"(?:\s(?:rate|factor|coefficient|term|parameter))?")
# "decay rate of 0.9", "β1 = 0.9", "momentum is set to 0.9", "momentum 0.5"; "0.9 for (both) decay and momentum"
SETTING_VALUE = re.compile(rf"{_WORD}\s*,?\s*(?:{SETTING})?{NUM}", re.I)
VALUE_FOR_SETTINGS = re.compile(rf"{NUM}\s+for\s+(?:both\s+)?(?:the\s+)?(?P<ws>[\w\s]{{3,40}}?)(?=[,;.)]|$)", re.I)


def _setting_word(word: str) -> str:
    """'β 1', 'beta_1', 'ϵ', 'Decay' -> beta1, epsilon, decay."""
    plain = re.sub(r"[\s_{}]", "", word.lower()).replace("β", "beta")
    return "epsilon" if plain in ("ε", "ϵ") else plain


def optimizer_settings(sentences: list[Sentence], name: str) -> tuple[dict[str, HyperParameter], list[str]]:
    """The chosen optimiser's own parameters the paper states beside its name (RMSProp's decay and momentum, Adam's
    betas and epsilon), each a hyperparameter with its quote (OPTIMIZER_SETTING_KEYS); a note where the paper sets
    some the run cannot read (torch's defaults are used for them), so none is passed over in silence."""
    keys = OPTIMIZER_SETTING_KEYS.get(name, {})
    patterns = [pattern for pattern, optimizer in OPTIMIZERS.items() if optimizer == name]
    for sentence in sentences:
        for pattern in patterns:
            match = re.search(pattern, sentence.text)
            if not match or not OPTIMIZER_SETTINGS.search(clause_at(sentence.text, match.start())):
                continue
            found = _stated_settings(sentence, match.start(), keys)
            said = quote(sentence, match.start())
            if found:
                return found, []
            return {}, [f"optimizer: the paper sets {name}'s own parameters ({said}); they are not read: the run "
                        f"uses torch's defaults for them"]
    return {}, []


def _stated_settings(sentence: Sentence, start: int, keys: dict[str, str]) -> dict[str, HyperParameter]:
    """The settings the optimiser's clause states, as spec hyperparameters (a word the optimiser has no key for is
    not one of its parameters)."""
    clause_start = sentence.text.rfind(";", 0, start) + 1
    clause = clause_at(sentence.text, start)
    values: dict[str, tuple[float, int]] = {}
    for match in SETTING_VALUE.finditer(clause):
        values[_setting_word(match.group("w"))] = (float(parse_number(match.group("v"))), match.start())
    for match in VALUE_FOR_SETTINGS.finditer(clause):
        for word in re.findall(r"momentum|decay|rho", match.group("ws"), re.I):
            values.setdefault(word.lower(), (float(parse_number(match.group("v"))), match.start()))
    return {keys[word]: HyperParameter(value=value, source="paper", evidence=quote(sentence, clause_start + at))
            for word, (value, at) in values.items() if word in keys and plausible(keys[word], value)}
