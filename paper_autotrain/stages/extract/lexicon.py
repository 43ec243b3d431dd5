"""Vocabulary of recommender-systems papers, as data: families, losses, datasets, metrics (models: recbole_models.yaml).

Patterns are regular expressions over normalised text (ASCII minus, ligatures expanded).
"""

from __future__ import annotations

from paper_autotrain.recbole_models import labels

# family -> (cue pattern, weight); the title and abstract count more than the body.
FAMILY_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "graph": (
        (r"graph (?:convolution|neural)", 3),
        (r"\bGCNs?\b", 2),
        (r"\bGNNs?\b", 2),
        (r"propagat", 1),
        (r"(?:user-item|bipartite|interaction) graph", 2),
        (r"neighbo(?:u)?rhood aggregation", 2),
    ),
    "sequential": (
        (r"sequential recommendation", 3),
        (r"session-based", 3),
        (r"\bsessions?\b", 1),
        (r"next[- ](?:item|click|basket)", 2),
        (r"sequence of (?:items|actions|interactions)", 2),
        (r"\bsequential (?:patterns|dynamics|behaviou?r)", 2),
    ),
    "context": (
        (r"\bCTR\b", 3),
        (r"click-through", 3),
        (r"click prediction", 3),
        (r"factori[sz]ation machines?", 2),
        (r"feature interactions?", 2),
        (r"\bfields?\b", 0.5),
        (r"cross-product (?:feature )?transformations?", 2),
        (r"sparse (?:features|inputs)", 1),
        (r"real-valued feature vector", 2),
    ),
    "autoencoder": (
        (r"auto-?encoders?", 3),
        (r"variational", 2),
        (r"\bVAEs?\b", 2),
        (r"denoising", 1),
    ),
    "knowledge": ((r"knowledge graph", 3), (r"knowledge-aware", 2), (r"knowledge base", 2)),
    "general": (
        (r"collaborative filtering", 1),
        (r"matrix factori[sz]ation", 1),
        (r"implicit feedback", 1),
        (r"personali[sz]ed ranking", 1),
    ),
}

# loss -> (cue pattern, weight). A loss the paper devises itself is "other".
LOSS_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "bpr": (
        (r"Bayesian Personali[sz]ed Ranking", 2),
        (r"\bBPR(?:-Opt)? loss", 3),
        (r"BPR-Opt", 2),
        (r"pairwise (?:ranking )?loss", 1),
        (r"pair-?wise learning (?:method|strategy|approach)", 1),
        (r"-?\s*\b(?:ln|log)\s*[σ𝜎𝜙φ]\s*\(", 1),  # -ln σ(x_ui - x_uj), however the sigmoid is printed
    ),
    "bce": (
        (r"binary cross[- ]entropy", 3),
        (r"\blog loss\b", 2),
        (r"logistic loss", 2),
        (r"pointwise log loss", 2),
        (r"negative logarithm of (?:the )?likelihood", 1),
        (r"probability [^.;]{0,60}?(?:by|with|as) a (?:logistic|sigmoid) function", 2),
        # "J is cross-entropy loss, P is a negative sampling distribution" (KGCN): sampled negatives labelled 0
        (r"negative sampl\w*[^.;]{0,60}cross[- ]entropy|cross[- ]entropy[^.;]{0,60}negative sampl", 2),
        # "the cross-entropy between the predicted click probabilities and the observed clicks" (RippleNet)
        (r"cross[- ]entropy (?:loss )?between (?:the )?(?:predicted|estimated) (?:click(?:-through)? |interaction )?"
         r"probabilit", 2),
    ),
    "ce": (
        (r"softmax cross[- ]entropy", 3),
        (r"categorical cross[- ]entropy", 3),
        (r"cross[- ]entropy (?:loss )?over (?:all )?(?:the )?(?:items|item set|catalog)", 3),
        (r"softmax over (?:all )?(?:the )?(?:items|item set|catalog)", 2),
        (r"negative log-?likelihood of the masked (?:targets?|items?)", 3),  # the cloze task's (BERT4Rec)
    ),
    "multinomial": ((r"multinomial (?:log-)?likelihood", 3), (r"multinomial distribution", 1)),
    "ccl": ((r"cosine contrastive loss", 4), (r"\bCCL\b", 2)),  # SimpleX's, on cosine similarities
    # GRU4Rec's ranking losses. TOP1 is the loss its paper "devised by us" (that cue alone would say `other`): named,
    # or described as the regularised approximation of the relevant item's relative rank, it is TOP1. TOP1-max is
    # not TOP1; BPR-max is the later paper's (Hidasi & Karatzoglou, 2018), with its score regularisation.
    "top1": (
        (r"\bTOP1\b(?!-max)", 2),
        (r"\bTOP1\b(?!-max)[^.]{0,80}(?:devised|designed|proposed|introduced) by us", 25),
        (r"regulari[sz]ed approximation of the relative rank", 25),
    ),
    "bpr_max": (
        (r"\bBPR-max\b", 4),
        (r"\bBPR-max\b[^.]{0,80}(?:score )?regulari[sz]ation", 25),
        (r"(?:\bwe\b|\bour\b|train\w*|optimi[sz]\w*|minimi[sz]\w*)[^.]{0,60}\bBPR-max\b", 25),
    ),
    "mse": (
        (r"squared (?:error )?loss", 2),
        (r"least[- ]squares?(?: error)?", 2),
        (r"\bMSE\b", 1),
        (r"minimi[sz](?:e|es|ing) (?:the )?(?:RMSE|root mean squared error|(?:mean )?squared errors?)", 2),
    ),
    # a loss the authors devise themselves is the paper's loss, whatever else it discusses
    "other": ((r"loss (?:function )?(?:was |is )?(?:devised|designed) by us", 20),),
}
# Losses outside the spec's vocabulary, by the name the spec's notes give them: the spec says "other" and names it.
OTHER_LOSS_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "hinge (margin) loss": (
        (r"\bhinge loss", 3),
        (r"margin-?\s?based (?:hinge |ranking )?loss", 3),
        (r"max\s*\(\s*0\s*,", 1),
    ),
    "sampled softmax": ((r"sampled softmax", 3),),
    "confidence-weighted squared error": (
        (r"weighted (?:root )?(?:mean )?squared errors?|weighted (?:R?MSE|least squares|regression loss)", 2),
        (r"(?<!\d% )confidence (?:levels?|weights?)", 1),
    ),
}

# Printed dataset names. Each pattern's match is kept as printed.
DATASET_PATTERNS: tuple[str, ...] = (
    r"\bML-(?:100[Kk]|1[Mm]|10[Mm]|20[Mm])\b",
    r"\bMovie[Ll]ens(?:[- ]?(?:100[Kk]|1[Mm]|10[Mm]|20[Mm]|25[Mm]))?\b",
    r"\bNetflix(?: Prize)?\b",
    r"\bPinterest\b",
    r"\bGowalla\b",
    r"\bYelp(?:20\d\d)?\b",
    r"\bAmazon-Book\b",
    r"\bAmazon[- ](?:Beauty|Games|Video Games|Books?|Electronics|Movies|CDs|Clothing|Sports|Toys|Home)\b",
    r"\bMillion Song(?: Dataset)?\b",
    r"\bBook-?Crossing\b",
    r"\bYoochoose\b",
    r"\bDiginetica\b",
    r"\bRetailRocket\b",
    r"\bKKBox\b",
    r"\bFrappe\b",
    r"\biPinYou\b",
    r"\bKuaiRec\b",
    r"\bCiao\b",
    r"\bBeauty\b",
    r"\bSteam\b",
    r"\bFoursquare\b",
    r"\bTmall\b",
    r"\bMSD\b",
    r"\bCriteo\b",
    r"\bAvazu\b",
    r"\bCompany\*",
    r"\bRSC15\b",
    r"\bRossmann\b",
    r"\bEpinions\b",
    r"\bLast\.?FM\b",
    r"\bDouban\b",
    r"\bCiteULike\b",
    r"\bGoogle Play\b",
    r"\bTaobao\b",
    r"\bAlibaba\b",
    r"\bML-?100[Kk]\b",
)

# A metric as printed, with an optional cut-off. The first group is the name, the second the cut-off.
METRIC_PATTERN = (
    r"\b(Recall|NDCG|nDCG|HR|Hit Ratio|Hit Rate|Hit|Prec|Precision|MRR|MAP|AUC|GAUC"
    r"|LogLoss|Logloss|Log[- ][Ll]oss|RMSE|MAE|F1|MPR|[RNPH](?=\s*@\s*\d))"
    r"(?:\s*@\s*((?:top\s*[-−–]\s*)?\d{1,3}))?(?![\w-])"  # "F1@top-5" keeps its printed "top-"
)
# Canonical spelling of metric names.
METRIC_NAMES = {
    "recall": "Recall",
    "ndcg": "NDCG",
    "hr": "HR",
    "hit ratio": "HR",
    "hit rate": "HR",
    "hit": "HR",
    "prec": "Prec",
    "precision": "Precision",
    "mrr": "MRR",
    "map": "MAP",
    "auc": "AUC",
    "gauc": "GAUC",
    "logloss": "Logloss",
    "log loss": "Logloss",
    "log-loss": "Logloss",
    "rmse": "RMSE",
    "mae": "MAE",
    "f1": "F1",
    "mpr": "MPR",  # mean percentile (percentage) ranking: lower is better
    # a table's abbreviations, kept as printed: "R@20", "N@20", "P@10", "H@10"
    "r": "R",
    "n": "N",
    "p": "P",
    "h": "H",
}
# A word before a metric in a table header that names the setting it was measured in ("Offline AUC");
# such a header is kept as printed.
METRIC_QUALIFIER = r"(?:Offline|Online|Test|Validation|Overall)"
LOWER_IS_BETTER = frozenset({"Logloss", "RMSE", "MAE", "MPR"})
CUTOFF_METRICS = frozenset({"Recall", "NDCG", "HR", "Prec", "Precision", "MRR", "F1", "R", "N", "P", "H"})

# Models a paper compares against, printed name -> RecBole class (None where RecBole has none): a view of the one
# registry of model names, recbole_models.yaml's labels (add a model there).
KNOWN_MODELS: dict[str, str | None] = labels()

# Capitalised tokens that are never the name of a paper's own method.
GENERIC_ACRONYMS = frozenset(
    {
        "MLP",
        "MLPS",
        "CF",
        "CNN",
        "CNNS",
        "RNN",
        "RNNS",
        "DNN",
        "DNNS",
        "GRU",
        "GRUS",
        "LSTM",
        "GNN",
        "GCN",
        "SVM",
        "SVMS",
        "KL",
        "ACM",
        "IEEE",
        "NDCG",
        "HR",
        "AUC",
        "MAP",
        "MRR",
        "CTR",
        "ID",
        "IDS",
        "API",
        "GPU",
        "CPU",
        "SGD",
        "PAGE",
        "MCS",
        "MC",
        "FFN",
        "ELBO",
        "VAE",
        "VAES",
        "DAE",
        "USA",
        "RMSE",
        "MAE",
        "ICLR",
        "WSDM",
        "KDD",
        "SIGIR",
        "WWW",
        "UAI",
        "RECSYS",
        "CIKM",
        "ICML",
        "NIPS",
        "AAAI",
        "IJCAI",
        "TOIS",
        "TKDE",
        "PDF",
        "URL",
        "ET",
        "AL",
        "ARXIV",
        "RELU",
        "TANH",
        "SIGMOID",
        "SOFTMAX",
        "TF",
        "IDF",
        "SI",
        "DS",
        "IK",
        "DCG",
        "AND",
        "WORK",
        "SYSTEM",
        "WIDE",
        "FMS",
        # techniques and terms, never one paper's method name
        "MF",
        "KG",
        "KGS",
        "GNNS",
        "GCNS",
        "LSTMS",
        "GAN",
        "GANS",
        "NN",
        "NNS",
        "AE",
        "AES",
        "LR",
        "RL",
        "NLP",
        "POI",
        "RS",
        "IR",
        "CV",
        "FLOPS",
        "SVD",
        "ALS",
        "EM",
        "MLE",
        "PCA",
    }
)

OPTIMIZERS: dict[str, str] = {
    r"\bAdam\b|Adaptive Moment Estimation": "adam",
    r"\bAdaGrad\b|\badagrad\b|\bAdagrad\b|[Aa]daptive gradient (?:optimi[sz]er|algorithm|method)": "adagrad",
    r"\bRMSprop\b|\brmsprop\b|\bRMSProp\b": "rmsprop",
    r"\bSGD\b|stochastic gradient[- ]descent": "sgd",
    r"\bFTRL\b|Follow-the-regularized-leader": "ftrl",
    r"\bR[Pp]rop\b|[Rr]esilient (?:back)?propagation": "rprop",
    r"[Aa]lternating[- ]least[- ]squares|\bALS\b": "als",
}

NUMBER_WORDS = {
    "one": 1,
    "single": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twenty": 20,
}
