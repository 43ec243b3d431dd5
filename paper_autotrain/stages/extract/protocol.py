"""The paper's evaluation protocol, read from its experiments sections: how it splits the data, how it ranks,
what it filters, how it defines a metric where that matters, and whether it stops early; each fact quoted.

Only what the paper does itself counts: a statement about another paper's setup ("He et al. [3] sample 100
negatives") is skipped, one that adopts it ("following [12], we ...") is kept, and a phrase the sentence turns
down ("instead of ranking all items", "ranking all items is too time-consuming") is not read as done.
Where the paper's statements disagree (leave-one-out and a ratio split, sampled and full ranking), the item
stays None: the report then says the paper's protocol on that point was not read, instead of guessing; splits
that differ because each names its own dataset ("1) Criteo Dataset: ... randomly ... 90%/10%", "2) Company
Dataset: ... the next 1 day for testing") are kept, one per dataset.

CTR, rating and industrial papers state their protocol differently from top-K ones: a random split of rows, a
later period as test ("the single week following the training period", "next-day holdout data"), train and test
periods that do not overlap, an online A/B test the paper ran itself, and the measure they evaluate by (AUC,
LogLoss, RMSE, MAE, MAP, the expected percentile rank), which is the metric definition that matters for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from paper_autotrain.schemas import PaperDoc, Protocol, ProtocolItem

from .text import Sentence, quote

QuoteAt = Callable[[int], str]  # a quote of the clause's sentence around a position in the clause

# --- scope: the paper's own experiments ------------------------------------------------------------------

# a clause about someone else's setup: "X et al. use", "NCF [3] samples", "in [12] the authors", "prior works"
OTHER_WORK = re.compile(
    r"\bet\s+al\b|\bthe authors\b|^\W*in \[\d"
    r"|\[\d+(?:\s*[,–-]\s*\d+)*\]\s+(?:use[sd]?|adopt\w*|sampl\w*|split\w*|evaluat\w*|rank\w*|employ\w*|report\w*)"
    r"|(?<![a-z])(?:previous|prior|existing|earlier|many|some|most|other|several)\s+(?:[\w-]+\s+){0,2}"
    r"(?:works?|studies|papers|methods|approaches|systems)\b",
    re.I,
)
# the paper speaking of itself: a statement after it (and after any citation) is the paper's own
OWN_VOICE = re.compile(r"\b(?:we|our|us)\b", re.I)
# "following He et al. [3]": the citation just after it is adopted, not someone else's setup
ADOPTING = re.compile(r"\b(?:following|follow(?:ed|s)?|as in|in line with|consistent with|same as|similar to"
                      r"|as\s+(?:suggested|recommended|done|described|proposed|introduced))\b"
                      r"[^.;]{0,40}$", re.I)
# where a sentence turns from one setup to another ("X, while we ...")
CLAUSE_BREAK = re.compile(r";|,?\s+\b(?:while|whereas|but|although|however)\b", re.I)
# a phrase just before a match that says it is not done
NEGATED = re.compile(
    r"(?:\bnot\b|\bno\b|\bnever\b|\bcannot\b|\bunable\b|\binstead of|\brather than|\bunlike|\bas opposed to"
    r"|\bwithout|\binfeasible"
    r"|\bimpractical|\bprohibitive\w*|\btoo\s+(?:\w+[- ])?(?:time[- ]consuming|expensive|costly|slow))[^.;,]{0,40}$",
    re.I,
)
# ... or just after it ("ranking all items is too time-consuming")
NEGATED_AFTER = re.compile(
    r"^[^.;,]{0,40}?\b(?:is|are|was|were|would\s+be|being)\s+(?:too|very|prohibitively|rather)\s+"
    r"(?:[\w-]+\s+)?(?:time[- ]consuming|expensive|costly|slow)"
    r"|^[^.;,]{0,40}?\b(?:is|are)\s+(?:infeasible|impractical|prohibitive)",
    re.I,
)
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "fifteen": 15, "twenty": 20}
COUNT = r"\d{1,4}|" + "|".join(NUMBER_WORDS)

# --- split ---------------------------------------------------------------------------------------------------

SPLIT_CONTEXT = re.compile(r"\b(?:train\w*|test\w*|valid\w*|split\w*|held[- ]?out|hold[- ]?out|partition\w*)", re.I)
ITEM_NOUN = (r"(?:interaction|item|record|action|click|purchase|rating|check-in|behaviou?r|transaction|visit"
             r"|event|review)s?")
LEAVE_ONE_OUT = re.compile(
    r"leave\s*-?\s*one\s*-?\s*(?:out|last)"
    rf"|\bhold(?:s|ing)?[- ]?out\s+(?:one|a\s+single|1)\s+(?:\w+\s+)?{ITEM_NOUN}\b"
    rf"|\b(?:latest|last|most\s+recent|final)\s+(?:\w+\s+)?{ITEM_NOUN}\b[^.;]{{0,80}}?"
    r"(?:\b(?:as|for|in|into)\s+(?:the\s+)?test\w*|\bheld[- ]?out|\bhold[- ]?out)"
    r"|(?:\btest(?:ing)?\s+(?:sets?|data|instances?|items?|targets?)|\bfor\s+test(?:ing)?,|\bheld[- ]?out"
    r"|\bhold[- ]?out)\b[^.;]{0,50}?\b(?:latest|last|most\s+recent|final)\s+"
    rf"(?:\w+\s+)?{ITEM_NOUN}\b",
    re.I,
)
LATEST = re.compile(r"\b(?:latest|last|most\s+recent|final)\b|chronolog|timestamp", re.I)
# a held-out item drawn at random ("for each user we randomly hold out one item"): not the latest one
RANDOM_HELD_OUT = re.compile(r"\brandom(?:ly)?\s+(?:hold(?:s|ing)?[- ]?out|held[- ]?out|select\w*|pick\w*|chos\w*"
                             rf"|choos\w*|sampl\w*)\s+(?:out\s+)?(?:one|a\s+single|1)\s+(?:\w+\s+)?{ITEM_NOUN}\b",
                             re.I)
# held-out users: the test users are unseen in training ("strong generalization")
HELD_OUT_USERS = re.compile(r"\bheld[- ]out\s+users\b"
                            r"|\bsplit\w*\s+(?:the\s+)?users\s+into\s+(?:\w+\s+)?(?:train|disjoint)", re.I)
# an order in time, stated beside a ratio or on its own
TEMPORAL_ORDER = re.compile(
    r"chronologic\w*|\btemporal(?:ly)?\s+(?:split|splitting|partition\w*|order)|time[- ]based\s+split"
    r"|\b(?:split|partition)\w*\s+(?:\w+\s+){0,4}?(?:by|according\s+to|based\s+on|along)\s+(?:the\s+)?"
    r"(?:timestamps?|time(?:\s+order)?|interaction\s+time)\b"
    r"|\b(?:sorted|ordered)\s+by\s+(?:the\s+)?time\w*|\b(?:first|earliest)\s+\d{1,2}(?:\.\d+)?\s?%",
    re.I,
)
# a test period that follows the training data ("the last 2 days for testing", "the sessions of the next day")
TEST_PERIOD = re.compile(
    rf"\b(?P<when>last|final|next|following|subsequent|succeeding|ensuing|most\s+recent)[\s-]+(?:(?P<n>{COUNT})[\s-]+)?"
    r"(?P<unit>days?|weeks?|months?|years?)\b"
    # "the single week following a 4-week training period", "the two days after the training period"
    rf"|\b(?:(?P<n2>{COUNT})|single|one)[\s-]+(?P<unit2>days?|weeks?|months?|years?)\s+(?:immediately\s+)?"
    r"(?:following|after|succeeding)\s+(?:the|a|an|this|that)\b[^.;]{0,30}?\btrain\w*",
    re.I,
)
TEST_WORD = re.compile(r"\btest\w*", re.I)
HOLDOUT_WORD = re.compile(r"\bhold[- ]?out\b|\bheld[- ]?out\b", re.I)  # the test data, where no validation is named
# train, validation and test data from periods that do not overlap ("there is no overlap in time")
DISJOINT_PERIODS = re.compile(
    r"\bno\s+(?:\w+\s+)?overlap\s+in\s+time\b|\b(?:non-?overlapping|disjoint)\s+(?:time\s+)?(?:periods|time\s+spans?"
    r"|time\s+windows?|date\s+ranges?)\b|\bdo\s+not\s+overlap\s+in\s+time\b",
    re.I,
)
# an online A/B test on live traffic, what the paper ran itself (its own voice, not a plan)
ONLINE_TEST = re.compile(
    r"\bA\s?/\s?B[- ]?(?:test\w*|experiments?|results?)\b"
    r"|\b(?:online|live)\s+(?:A\s?/\s?B\s+)?(?:experiments?|tests?|testing|evaluations?|traffic\s+experiments?)\b",
    re.I,
)
PLANNED = re.compile(r"\b(?:will|plan\w*|intend\w*|would\s+like|future\s+work|leave\s+\w+\s+(?:for|to)\s+(?:the\s+)?"
                     r"future|hope)\b", re.I)
# a section heading glued to the sentence before it ("... (cross entropy). 4.3 Online Evaluation")
HEADING_BEFORE = re.compile(r"(?:^|[.!?:]\s+)\d+(?:\.\d+)*\.?\s+(?:[A-Z][\w&/-]*\s+){0,4}$")
CITATION = re.compile(r"\[\d|\bet\s+al\b", re.I)
PASSIVE_RUN = re.compile(r"\b(?:was|were|is|are|been)\s+(?:conducted|performed|run|carried\s+out|deployed)\b", re.I)
# a dataset named just before a statement ("1) Criteo Dataset: ... we split ..."): whose split it is
DATASET_NAMED = re.compile(r"(?P<name>[A-Z][\w*+.-]*?(?:[ -][A-Z0-9][\w*+.-]*?){0,2})\s*"
                           r"(?:[Dd]ata\s?[Ss]ets?|DATA\s?SETS?)\b")
NOT_A_NAME = {"the", "this", "that", "these", "those", "each", "every", "all", "both", "our", "two", "three", "four",
              "public", "real", "large", "small", "benchmark", "other", "different", "same", "whole", "full",
              "training", "test", "testing", "validation", "evaluation", "experimental", "original", "raw",
              "several", "a", "an", "in", "on", "for", "of", "from", "with", "and", "we", "statistics", "table",
              "description"}
DATASET_LOOKBACK = 3  # sentences before a split statement searched for the dataset it is about
PERCENT = re.compile(r"(?<![\d.])(?P<v>\d{1,2}(?:\.\d+)?)\s?%")
# "8:1:1", "80/20", "80%/10%/10%", "90%–10%"
RATIO = re.compile(r"(?<![\d.:/])(?P<a>\d{1,2}(?:\.\d+)?)\s?(?P<pa>%?)\s?(?P<sep>[:/–-])\s?(?P<b>\d{1,2}(?:\.\d+)?)"
                   r"\s?%?(?:\s?[:/–-]\s?(?P<c>\d{1,2}(?:\.\d+)?)\s?%?)?(?!\.?\d|[:/])")
ROLE_WORDS = {
    "train": re.compile(r"\btrain(?:ing|ed)?\b", re.I),
    "valid": re.compile(r"\b(?:valid(?:ation)?|dev(?:elopment)?|tun(?:e|ing))\b", re.I),
    "test": re.compile(r"\btest(?:ing)?\b", re.I),
}
REST = re.compile(r"\b(?:the\s+)?(?:rest|remaining|remainder|others?)\b", re.I)
# "split the rest into validation and test sets with equal size", "... evenly", "half for validation"
EQUAL_PARTS = re.compile(r"\b(?:equal(?:ly)?|same)[\s-]+(?:sizes?|parts|halves|proportions?|shares?)\b|\bequally\b"
                         r"|\bevenly\b|\b(?:in|into)\s+(?:two\s+)?halves\b|\bhalf\s+(?:of\s+(?:it|them)\s+)?(?:for|as)\b",
                         re.I)
RANDOM = re.compile(r"\brandom(?:ly)?\b", re.I)
PER_USER = re.compile(r"\b(?:for|of|from)\s+(?:each|every)\s+user\b|\bper\s+user\b|\beach\s+user's\b", re.I)
PARTS = ("train", "valid", "test")
SPLIT_NUMBERS = re.compile(r"\d[\d./]*")

# --- ranking -------------------------------------------------------------------------------------------------

RANKING_CONTEXT = re.compile(r"\b(?:rank\w*|candidates?|evaluat\w*|test\w*|metrics?|top-?\s?[kn0-9])", re.I)
ITEM_ADJECTIVE = r"(?:other|candidate|remaining|possible|available|unobserved|non-?interacted|un-?interacted)\s+"
FULL_RANKING = re.compile(
    rf"\brank\w*\s+(?:all|every|the\s+(?:whole|entire|full)(?:\s+set\s+of)?)\s+(?:the\s+|of\s+the\s+)?"
    rf"(?:{ITEM_ADJECTIVE})?items?\b"
    r"|\ball[- ]ranking\b|\bfull[- ]?(?:ranking|sort\w*|rank\w*)|\bfull\s+item\s+(?:set|ranking)"
    r"|\ball\s+(?:the\s+)?(?:other\s+)?items\s+(?:that|which)\s+(?:the\s+user\s+|a\s+user\s+)?(?:has|have|had|are)"
    r"\s+not\b"
    r"|\ball\s+(?:the\s+)?(?:un-?interacted|non-?interacted|unobserved|uninteracted|unseen)\s+items\b"
    rf"|\b(?:among|against|over)\s+(?:all|the\s+(?:whole|entire|full))\s+(?:the\s+)?(?:{ITEM_ADJECTIVE})?"
    r"(?:set\s+of\s+)?items\b"
    r"|\b(?:scores?|predictions?)\s+(?:for|of|over)\s+all\s+(?:the\s+)?(?:user[- ]item\s+pairs|items)\b"
    rf"|\b(?:ordered|ranked|sorted|ranking)\s+(?:list|order)\s+of\s+all\s+(?:the\s+)?(?:{ITEM_ADJECTIVE})?"
    r"(?:items|products|programs|programmes|shows|movies|videos|songs|artists|tracks|books|pois|venues|candidates)\b",
    re.I,
)
NEGATIVES = (r"(?:negative|non-?interacted|un-?interacted|unobserved|irrelevant|unseen|un-?rated)"
             r"(?:\s+(?:or|and)\s+(?:negative|non-?interacted|un-?interacted|unobserved|irrelevant|unseen))?")
SAMPLED_NEGATIVES = (
    re.compile(rf"(?<![\d.])(?P<n>\d{{1,4}})\s+(?:randomly\s+)?(?:sampled\s+)?{NEGATIVES}\s+"
               r"(?:items|samples|instances|candidates|ones)\b", re.I),
    re.compile(r"\bsampl\w*\s+(?P<n>\d{1,4})\s+(?:other\s+|more\s+|additional\s+)?items\s+(?:that|which|the\s+user"
               r"|not|with\s+which|he|she)\b", re.I),
    re.compile(r"\b(?:1|one)\s+(?:positive|ground[- ]truth|test|target)\s+(?:item\s+)?and\s+(?P<n>\d{1,4})\s+"
               r"(?:\w+\s+)?negatives?\b", re.I),
    re.compile(r"\b(?:paired|pair|together)\s+with\s+(?P<n>\d{1,4})\s+(?:randomly\s+)?(?:sampled\s+)?(?:\w+\s+)?"
               r"items\b", re.I),
)
# "ranking the test item among the 101 items": the count includes the test item
SAMPLED_TOTAL = re.compile(r"\brank\w*\s+(?:\w+\s+){0,4}?among\s+(?:the\s+|these\s+)?(?P<n>\d{1,4})\s+"
                           r"(?:candidate\s+)?items\b", re.I)
TRAINING = re.compile(r"\btrain\w*", re.I)

# --- filters -------------------------------------------------------------------------------------------------

FILTER_VERB = re.compile(r"\b(?:filter\w*|remov\w*|discard\w*|exclud\w*|drop\w*|retain\w*|keep|kept|keeping"
                         r"|eliminat\w*|prun\w*|select\w*|includ\w*|ensure\w*|subsampl\w*|such\s+that)\b", re.I)
# "users with fewer than 5 ratings are only used for training": they stay, in the training set
TRAINING_ONLY = re.compile(r"\b(?:only\s+)?(?:included|used|kept|put|placed)\s+(?:only\s+)?(?:in|for)\s+(?:the\s+)?"
                           r"train", re.I)
# a count that makes an interaction positive ("listened to at least 5 times as positive feedback") is no k-core
AS_POSITIVE = re.compile(r"\bas\s+(?:a\s+)?(?:positive|relevant|implicit|like)", re.I)
COUNTED_ITEMS = r"items|movies|books|songs|artists|venues|businesses|products|videos|apps|tracks|pois"
COUNTED_EVENTS = (r"interactions|ratings|records|reviews|purchases|clicks|check-ins|actions|feedbacks?|times"
                  r"|transactions|events|listens|plays|histor(?:y|ies)")
COUNTED = rf"(?:[\w-]+\s+)?(?P<noun>users|{COUNTED_ITEMS}|{COUNTED_EVENTS})\b"
NUMBERS = rf"(?P<n>{COUNT})(?:\s*(?:and|/|,|or)\s*(?P<n2>\d{{1,4}}))?"
K_CORE = re.compile(r"\b(?P<n>\d{1,3})\s?-\s?cores?\b|\bk-core\b[^.;]{0,30}?\bk\s*=\s*(?P<k>\d{1,3})", re.I)
MINIMUM = re.compile(rf"(?P<op>at\s+least|no\s+(?:less|fewer)\s+than|a\s+minimum\s+of|≥|>=|(?:fewer|less)\s+than"
                     rf"|more\s+than)\s*{NUMBERS}\s+{COUNTED}", re.I)
MINIMUM_VALUE = re.compile(r"^(?P<side>.+?) with (?P<bound>[>=]+ \d+) interactions$")
SUBJECT = re.compile(r"\b(?:users?\s+and\s+items?|items?\s+and\s+users?|users?|items?)\b", re.I)
RATING_CONTEXT = re.compile(r"\brat(?:ing|ed)s?\b|\bstars?\b|\bexplicit\b", re.I)
RATING_THRESHOLD = re.compile(
    r"\b(?:ratings?|rated|scores?)\s+(?:of\s+|score\s+)?(?P<op>>=|≥|>|no\s+less\s+than|not\s+less\s+than|at\s+least"
    r"|greater\s+(?:than\s+)?or\s+equal\s+to|equal\s+to\s+or\s+(?:greater|higher|larger)\s+than|larger\s+than"
    r"|greater\s+than|higher\s+than|above)\s*(?P<n>\d(?:\.\d)?)(?![\d.,])"
    r"|\b(?:ratings?|rated)\s+(?:of\s+)?(?P<m>\d(?:\.\d)?)\s+(?:stars?\s+)?(?:or|and)\s+(?:higher|above|more"
    r"|greater)",
    re.I,
)
STRICT_OPERATORS = re.compile(r"^(?:>|larger than|greater than|higher than|above)$", re.I)
SEEN = (r"(?:watched|seen|interacted|consumed|purchased|bought|rated|clicked|listened|visited|appear\w*|occur\w*"
        r"|present)")
REPEATS_REMOVED = re.compile(
    r"\b(?:remov|exclud|discard|filter|drop|eliminat)\w*(?:\s+out)?\b[^.;]{0,80}?\bfrom\s+(?:the\s+|each\s+user's\s+)?"
    rf"test(?:ing)?\s+(?:sets?|data|period)\b[^.;]{{0,80}}?\b{SEEN}\b[^.;]{{0,60}}?\btrain\w*"
    rf"|(?:\b(?:not|never)\s+)?\b{SEEN}\b[^.;]{{0,40}}?\b(?:in|during)\s+(?:the\s+)?train\w*[^.;]{{0,40}}?\b(?:are|were|is|was)\s+"
    r"(?:\w+\s+)?(?:remov|exclud|discard|filter|drop|eliminat)\w*(?:\s+out)?\s+from\s+(?:the\s+)?test",
    re.I,
)
UNSEEN = re.compile(r"\b(?:not|never|unseen|absent|new)\b", re.I)  # items the training data lacks, not repeats
TO_IMPLICIT = re.compile(
    r"\b(?:convert\w*|transform\w*|binari[sz]\w*|treat\w*|regard\w*|view\w*)\b[^.;]{0,60}?"
    r"\b(?:implicit(?:\s+feedback|\s+data)?|binary|positive\s+(?:feedback|instances?|interactions?|samples?))\b",
    re.I,
)

# --- metric definitions and early stopping -----------------------------------------------------------------

TARGET_ITEM = r"(?:[\w-]+\s+){0,2}?(?:test|ground[- ]truth|target|held[- ]out|positive|next)\s+(?:\w+\s+)?item"
HIT_RATIO = re.compile(rf"\b(?:HR|hit\s+ratio|hit\s+rate|hits?)(?:@\s?\w+)?\b[^.]{{0,120}}?\b(?:whether|if"
                       rf"|fraction\s+of\s+times|presence\s+of)\b[^.]{{0,20}}?\b{TARGET_ITEM}", re.I)
RECALL_FRACTION = re.compile(r"\brecall\b[^.]{0,120}?\b(?:fraction|proportion|percentage|ratio|number)\s+of\s+"
                             r"(?:the\s+)?(?:\w+\s+)?(?:test|relevant|ground[- ]truth|held[- ]out|positive|target)"
                             r"\s+items", re.I)
# Recall@K over min(K, |test items|) (a user with many test items can reach 1), not over all test items
TRUNCATED_RECALL = re.compile(r"\bmin\s*\(\s*[KRNMk]\s*,|\bminimum\s+of\s+(?:[KRNMk]|the\s+cut-?off)\s+and\b")
RECALL = re.compile(r"\brecall\b", re.I)
NDCG_POSITION = re.compile(r"\bNDCG\b[^.]{0,120}?\b(?:position|higher\s+scores?\s+to|discount\w*|ranked\s+higher"
                           r"|top\s+ranks?|rank\s+of\s+the|larger\s+weights?)", re.I)
# the measure a CTR, rating or industrial paper reports, named where the paper says how it evaluates
MEASURE_CONTEXT = re.compile(
    r"\b(?:metrics?|measur\w*|evaluat\w*|in\s+terms\s+of|report\w*|assess\w*)\b"
    r"|\b(?:error|loss|precision|curve|ranking)\s*\(\s*[A-Z]{2,5}\s*\)",  # the measure defined: "Error (RMSE)"
    re.I,
)
# ... or only the data it is measured on ("AUC on a holdout set"): taken when nothing says more
WEAK_MEASURE_CONTEXT = re.compile(
    r"\b(?:hold-?out|held-?out|test(?:ing)?\s+(?:sets?|data)|validation\s+(?:sets?|data))\b", re.I)
MEASURE_WINDOW = 100  # characters before the measure, and half as many after, that say how it is used
# the measure as the training objective ("minimises RMSE", "Log Loss Objective") is no evaluation measure
OBJECTIVE = re.compile(r"\b(?:objective|loss\s+function|optimi[sz]\w*|minimi[sz]\w*|maximi[sz]\w*)\b", re.I)
GAIN = re.compile(r"\s*(?:improvement|gain|increase|lift|impr)", re.I)  # "relative AUC improvement": plain AUC
MEASURES = (
    ("auc", "AUC", re.compile(r"\b(?P<rel>relative\s+)?(?:AUC|area\s+under\s+(?:the\s+)?(?:ROC|receiver\s+operat\w*"
                              r"\s+characteristic)(?:\s+curve)?)\b", re.I)),
    ("logloss", "LogLoss", re.compile(r"\b(?P<rel>relative\s+)?(?:log\s?-?loss|logarithmic\s+loss)\b", re.I)),
    ("rmse", "RMSE", re.compile(r"\b(?P<rel>relative\s+)?(?:RMSE|root[- ]mean[- ]squared?[- ]error)\b", re.I)),
    ("mae", "MAE", re.compile(r"\b(?P<rel>[Rr]elative\s+)?(?:MAE|[Mm]ean\s+[Aa]bsolute\s+[Ee]rror)\b")),
    ("map", "MAP: mean average precision", re.compile(r"\b(?P<rel>relative\s+)?mean\s+average\s+precision\b", re.I)),
    ("percentile", "MPR: expected percentile rank of the test items (lower is better)",
     re.compile(r"\b(?P<rel>relative\s+)?(?:(?:expected|mean|average)\s+percent(?:ile|age)[- ]?rank\w*|MPR)\b", re.I)),
)
EARLY_STOPPING = re.compile(r"\bearly[- ]?stop\w*|\bstop\w*\s+(?:the\s+)?training\s+(?:process\s+)?(?:if|when|once)",
                            re.I)
PATIENCE = re.compile(
    r"\bpatience\s+(?:of\s+|is\s+|=\s*|to\s+|set\s+to\s+)?(?P<a>\d{1,4})"
    r"|(?:not|n't|no\s+longer|fails?\s+to)\s+(?:\w+\s+)?(?:improv|increas|decreas)\w*\s+(?:\w+\s+){0,4}?"
    r"(?:for|in|within|after|over)\s+(?P<b>\d{1,4})\s+(?:consecutive\s+|successive\s+)?"
    r"(?:epochs|iterations|evaluations|rounds|steps)"
    r"|(?P<c>\d{1,4})\s+(?:consecutive\s+|successive\s+)?(?:epochs|iterations|evaluations|rounds)\s+without\s+"
    r"(?:any\s+)?improvement",
    re.I,
)
MONITOR = re.compile(r"\b(?:validation|valid|dev(?:elopment)?|held-out)\b[^.;]{0,40}?"
                     r"\b(?P<m>NDCG|Recall|HR|hit\s+ratio|AUC|MRR|loss|log\s*loss|precision|MAP)\b(?:@\s?(?P<k>\d+))?",
                     re.I)


@dataclass(frozen=True)
class Finding:
    """One statement of the protocol: its value, its kind (to tell agreement from conflict) and its quote."""

    value: str
    kind: str
    evidence: str
    key: str = ""  # what a filter applies to ("users"), so that two datasets' different minimums are told apart
    at: int = 0  # where in its clause it is stated (a split: the dataset named before it is the one it is about)
    dataset: str = ""  # the dataset the statement is about, when one is named just before it


# --- scope ---------------------------------------------------------------------------------------------------


def clauses(sentence: Sentence) -> list[tuple[str, int]]:
    """(clause, offset in the sentence): a sentence cut where it turns from one setup to another."""
    found, start = [], 0
    for cut in [*CLAUSE_BREAK.finditer(sentence.text), None]:
        end = len(sentence.text) if cut is None else cut.start()
        if sentence.text[start:end].strip():
            found.append((sentence.text[start:end], start))
        start = end if cut is None else cut.end()
    return found


def by_other_work(clause: str, position: int) -> bool:
    """Whether the statement at `position` describes another paper's setup: a citation or 'prior works' stands
    before it, not adopted ('following [3]'), and the paper's own voice ('we') does not come after that citation."""
    before = clause[:position]
    cited = [m.start() for m in OTHER_WORK.finditer(before) if not ADOPTING.search(before[: m.start()])]
    own = [m.start() for m in OWN_VOICE.finditer(before)]
    return bool(cited) and (not own or max(cited) > max(own))


def is_negated(clause: str, position: int, end: int | None = None) -> bool:
    after = NEGATED_AFTER.search(clause[end:]) if end is not None else None
    return NEGATED.search(clause[:position]) is not None or after is not None


def stated(clause: str, position: int, end: int | None = None) -> bool:
    """Whether the statement at `position` is something the paper does: not turned down, not another paper's."""
    return not is_negated(clause, position, end) and not by_other_work(clause, position)


def positive_matches(pattern: re.Pattern[str], clause: str) -> list[re.Match[str]]:
    return [m for m in pattern.finditer(clause) if stated(clause, m.start(), m.end())]


def number(text: str) -> int:
    return NUMBER_WORDS[text.lower()] if text.lower() in NUMBER_WORDS else int(text)


# --- split ---------------------------------------------------------------------------------------------------


def read_split(clause: str, quote_at: QuoteAt, before: tuple[str, QuoteAt] | None = None) -> list[Finding]:
    """Leave-one-out, held-out users, a ratio (random or temporal) or a temporal test period. `before` is the
    clause before (and its quotes) when it left its percentages unfinished ("the first 70% ... training, the next
    10% ..."; "The remaining 20% ... test")."""
    online = online_test(clause)
    if online is not None:
        return [Finding("online A/B test", "online", quote_at(online), at=online)]
    loo = positive_matches(LEAVE_ONE_OUT, clause)
    if not loo and not SPLIT_CONTEXT.search(clause):
        return []
    if loo:
        which = (" (latest interaction per user)" if LATEST.search(clause)
                 else " (a random interaction per user)" if RANDOM_HELD_OUT.search(clause) else "")
        return [Finding(f"leave-one-out{which}", "leave-one-out", quote_at(loo[0].start()), at=loo[0].start())]
    held_out = positive_matches(HELD_OUT_USERS, clause)
    if held_out:
        return [Finding("held-out users", "held-out users", quote_at(held_out[0].start()), at=held_out[0].start())]
    text, evidence = clause, quote_at
    joined_ratio = split_ratio(f"{before[0]} {clause}") if before else None
    if before and joined_ratio:
        text, evidence = f"{before[0]} {clause}", spanning(before, quote_at)
    ratio = joined_ratio or split_ratio(clause)
    if ratio is not None and not stated(text, ratio[1]):
        ratio = None
    order = positive_matches(TEMPORAL_ORDER, text)
    if ratio is not None:
        how = "temporal" if order else "random" if RANDOM.search(text) else ""
        scope = " per user" if PER_USER.search(text) else ""
        at = 0 if text is not clause else ratio[1]  # a ratio begun in the clause before: its dataset is before both
        return [Finding(" ".join(filter(None, [how, ratio[0]])) + scope, "ratio", evidence(ratio[1]), at=at)]
    period = test_period(clause)
    if period is not None:
        return [Finding(period[0], "temporal period", quote_at(period[1]), at=period[1])]
    if order:
        return [Finding("temporal", "temporal", quote_at(order[0].start()), at=order[0].start())]
    disjoint = positive_matches(DISJOINT_PERIODS, clause)
    if disjoint:
        return [Finding("temporal (train, validation and test periods do not overlap)", "temporal",
                        quote_at(disjoint[0].start()), at=disjoint[0].start())]
    return []


def online_test(clause: str) -> int | None:
    """Where the clause says the paper ran an online A/B test itself ('we conducted live online experiments in an
    A/B testing framework', 'performed better in A/B testing' in the paper's voice); not another paper's, not one
    it plans or could not run."""
    for match in positive_matches(ONLINE_TEST, clause):
        before = clause[: match.start()]
        heading = HEADING_BEFORE.search(before) and all(w[0].isupper() for w in match.group(0).split())
        if PLANNED.search(before) or heading:
            continue
        own = [m.end() for m in OWN_VOICE.finditer(before)]
        if own and not CITATION.search(before[own[-1]:]):
            return match.start()  # "we conducted live online experiments in an A/B testing framework"
        if PASSIVE_RUN.search(clause) and not CITATION.search(clause):
            return match.start()  # "an online A/B test was conducted for two weeks"
    return None


def spanning(before: tuple[str, QuoteAt], quote_at: QuoteAt) -> QuoteAt:
    """Quotes for a statement that runs over two clauses: both, the first from `position` on."""
    text, quote_before = before

    def both(position: int) -> str:
        first, second = quote_before(min(position, len(text))), quote_at(0)
        return first if first == second else f"{first} | {second}"

    return both


def test_period(clause: str) -> tuple[str, int] | None:
    """'temporal (the last 2 days as test)' when the clause names a later period as the test data ('the sessions of
    the subsequent day' too: the test period is the last one of the data)."""
    if not TEST_WORD.search(clause) and not (HOLDOUT_WORD.search(clause) and not ROLE_WORDS["valid"].search(clause)):
        return None
    for match in positive_matches(TEST_PERIOD, clause):
        n, unit = match.group("n") or match.group("n2"), match.group("unit") or match.group("unit2")
        amount = f"{n} " if n else ""
        return f"temporal (the last {amount}{unit.lower()} as test)", match.start()
    return None


def split_ratio(clause: str) -> tuple[str, int] | None:
    """'80/10/10' (train/valid/test, percent) and where it is stated, from a ratio or from percentages with roles."""
    if not any(word.search(clause) for word in ROLE_WORDS.values()):
        return None
    for match in RATIO.finditer(clause):
        parts = ratio_parts(match)
        if parts:
            return "/".join(parts), match.start()
    found = shares(clause)
    if found is None or not complete(found[0]):
        return None
    return "/".join(f"{found[0][part]:g}" for part in PARTS if part in found[0]), found[1]


def ratio_parts(match: re.Match[str]) -> list[str] | None:
    """'8:1:1' or '80/20' as percentages; a ratio that does not sum to 1, 10 or 100 (a date, a class balance, a
    range) is none."""
    values = [float(match.group(g)) for g in "abc" if match.group(g)]
    total = sum(values)
    sep = match.group("sep")
    if sep in "–-" and not (match.group("pa") and round(total) == 100):
        return None  # "5-10" is a range; "90%–10%" a split
    if sep == "/" and round(total) not in (1, 100):
        return None
    if total <= 0 or round(total, 6) not in (1, 10, 100):
        return None  # "Pos:Neg ~1:3" is no split
    return [f"{100 * v / total:g}" for v in values]


def shares(clause: str) -> tuple[dict[str, float], int] | None:
    """Each percentage tied to the part it names ('80% ... as the training set'), the rest filled in when the clause
    says 'the rest'; None when a percentage names no part ('improves by 10% on the test set' names one twice)."""
    matches = list(PERCENT.finditer(clause))
    if not matches:
        return None
    found: dict[str, float] = {}
    for i, match in enumerate(matches):
        after = clause[match.end(): matches[i + 1].start() if i + 1 < len(matches) else match.end() + 60]
        before = clause[matches[i - 1].end() if i else max(0, match.start() - 40): match.start()]
        in_brackets = re.search(r"\(\s*$", clause[: match.start()]) is not None  # "training (80%), validation (10%)"
        role = (last_role(before) or first_role(after)) if in_brackets else (first_role(after) or last_role(before))
        if role is None or role in found:
            return None
        found[role] = float(match.group("v"))
    missing = [part for part in PARTS if part not in found]
    rest = REST.search(clause)
    if rest and missing == ["valid", "test"] and EQUAL_PARTS.search(clause[rest.end():]):
        found.update({part: (100 - sum(found.values())) / 2 for part in missing})  # "the rest ... with equal size"
    elif rest and missing and sum(found.values()) < 100:
        role = first_role(clause[rest.end():])
        fill = role if role in missing else "train" if "train" in missing else None
        if fill is not None:
            found[fill] = 100 - sum(found.values())
    return found, matches[0].start()


def complete(found: dict[str, float]) -> bool:
    return len(found) >= 2 and abs(sum(found.values()) - 100) <= 0.5


def unfinished(clause: str) -> bool:
    """Percentages tied to parts that do not add up to a whole yet: the next clause may finish them."""
    found = shares(clause)
    return found is not None and not complete(found[0]) and sum(found[0].values()) < 100


def first_role(text: str) -> str | None:
    found = [(m.start(), role) for role, word in ROLE_WORDS.items() if (m := word.search(text))]
    return min(found)[1] if found else None


def last_role(text: str) -> str | None:
    found = [(m.start(), role) for role, word in ROLE_WORDS.items() for m in word.finditer(text)]
    return max(found)[1] if found else None


# --- ranking -------------------------------------------------------------------------------------------------


def read_ranking(clause: str, quote_at: QuoteAt) -> list[Finding]:
    """sampled-N (N negatives beside the test item) and/or full (both: the choice sees the conflict); negatives
    sampled for training do not count."""
    if not RANKING_CONTEXT.search(clause):
        return []
    found = []
    negatives = [(m, int(m.group("n"))) for p in SAMPLED_NEGATIVES for m in positive_matches(p, clause)]
    negatives += [(m, int(m.group("n")) - 1) for m in positive_matches(SAMPLED_TOTAL, clause)]
    negatives = [(m, n) for m, n in negatives if n > 0 and not TRAINING.search(clause[: m.start()])]
    if negatives:
        match, n = min(negatives, key=lambda found: found[0].start())  # the stated sample comes before the total
        found.append(Finding(f"sampled-{n}", "sampled", quote_at(match.start())))
    full = positive_matches(FULL_RANKING, clause)
    if full:
        found.append(Finding("full", "full", quote_at(full[0].start())))
    return found


# --- filters -------------------------------------------------------------------------------------------------


def read_filters(clause: str, quote_at: QuoteAt) -> list[Finding]:
    found = []
    core = positive_matches(K_CORE, clause)
    if core:
        n = core[0].group("n") or core[0].group("k")
        found.append(Finding(f"{n}-core", "k-core", quote_at(core[0].start()), key="users and items"))
    elif FILTER_VERB.search(clause) and not TRAINING_ONLY.search(clause):
        found += minimum_counts(clause, quote_at)
    if RATING_CONTEXT.search(clause):
        found += rating_filters(clause, quote_at)
    repeats = positive_matches(REPEATS_REMOVED, clause)
    if repeats:
        unseen = UNSEEN.search(repeats[0].group(0)) is not None
        value = ("test interactions with items absent from the training data removed" if unseen
                 else "test items the user already had in training removed from the test set")
        found.append(Finding(value, "unseen" if unseen else "repeats", quote_at(repeats[0].start())))
    return found


def minimum_counts(clause: str, quote_at: QuoteAt) -> list[Finding]:
    """'users with fewer than 5 ratings are removed' -> users with >= 5 interactions; 'items rated by at least 10
    users' -> items with >= 10; 'users and items with fewer than 5 and 15 actions' -> one finding for each."""
    found: dict[str, tuple[str, int]] = {}
    for match in positive_matches(MINIMUM, clause):
        if AS_POSITIVE.search(clause[match.end(): match.end() + 40]):
            continue
        op = ">" if match.group("op").lower().startswith("more") else ">="
        bounds = [f"{op} {number(match.group('n'))}", *([f"{op} {match.group('n2')}"] if match.group("n2") else [])]
        subjects = counted_subjects(clause[: match.start()], match.group("noun"))
        if len(bounds) == 2 and len(subjects) == 2:
            pairs = list(zip(subjects, bounds, strict=True))
        else:
            pairs = [(subject, bounds[0]) for subject in subjects]
        for subject, bound in pairs:
            found.setdefault(subject, (bound, match.start()))
    return merged_minimums(found, quote_at)


def counted_subjects(before: str, noun: str) -> list[str]:
    """Whose interactions are counted: the other side when the count is of users or items ('by at least 10 users':
    items), else the users and/or items named before the count."""
    noun = noun.lower()
    if noun == "users":
        return ["items"]
    if re.fullmatch(COUNTED_ITEMS, noun):
        return ["users"]
    named = list(SUBJECT.finditer(before))
    if not named:
        return ["users"]
    subject = named[-1].group(0).lower()
    if " and " in subject:
        return ["users", "items"] if subject.startswith("user") else ["items", "users"]
    return [subject if subject.endswith("s") else subject + "s"]


def merged_minimums(found: dict[str, tuple[str, int]], quote_at: QuoteAt) -> list[Finding]:
    """'users and items with >= 10 interactions' when both have the same bound, else one finding each."""
    if set(found) == {"users", "items"} and found["users"][0] == found["items"][0]:
        bound, position = found["users"]
        return [Finding(f"users and items with {bound} interactions", "k-core", quote_at(position),
                        key="users and items")]
    return [Finding(f"{subject} with {bound} interactions", "k-core", quote_at(position), key=subject)
            for subject, (bound, position) in found.items()]


def rating_filters(clause: str, quote_at: QuoteAt) -> list[Finding]:
    threshold = RATING_THRESHOLD.search(clause)
    if threshold is not None and stated(clause, threshold.start()):
        op = threshold.group("op")
        strict = op is not None and STRICT_OPERATORS.match(" ".join(op.split()))
        value = threshold.group("n") or threshold.group("m")
        return [Finding(f"rating {'>' if strict else '>='} {value} as positive", "threshold",
                        quote_at(threshold.start()))]
    implicit = positive_matches(TO_IMPLICIT, clause)
    if implicit:
        return [Finding("ratings converted to implicit feedback", "implicit", quote_at(implicit[0].start()))]
    return []


# --- metric definitions and early stopping -----------------------------------------------------------------


def read_metric_definitions(clause: str, quote_at: QuoteAt) -> list[Finding]:
    found = []
    for pattern, value, kind in (
        (HIT_RATIO, "HR@K: whether the test item is in the top-K", "hit"),
        (TRUNCATED_RECALL, "Recall@K normalised by min(K, the user's test items)", "recall"),
        (RECALL_FRACTION, "Recall@K: the fraction of the user's test items in the top-K", "recall"),
        (NDCG_POSITION, "NDCG@K: hits discounted by their position", "ndcg"),
    ):
        match = next(iter(positive_matches(pattern, clause)), None)
        if pattern is TRUNCATED_RECALL and not RECALL.search(clause):
            continue  # a min(...) in a clause about something else
        if match and kind not in {f.kind for f in found}:
            found.append(Finding(value, kind, quote_at(match.start())))
    return found + measures(clause, quote_at)


def measures(clause: str, quote_at: QuoteAt) -> list[Finding]:
    """The measure itself where the paper says it evaluates by it ('We use two evaluation metrics: AUC and Logloss',
    'performance is measured by relative AUC', 'report average RMSE'): AUC, LogLoss, RMSE, MAE, MAP or the expected
    percentile rank; 'relative X' when the paper reports it against a reference model. Where only the data it is
    measured on is said ('AUC on a holdout set') the finding is weak: taken when no clause says more."""
    found = []
    for kind, value, pattern in MEASURES:
        for match in positive_matches(pattern, clause):
            start = max(0, match.start() - MEASURE_WINDOW)
            window = clause[start: match.end() + MEASURE_WINDOW // 2]
            at = (match.start() - start, match.end() - start)
            objective = nearest(OBJECTIVE, window, at)
            if objective is not None and objective <= min(nearest(MEASURE_CONTEXT, window, at) or 10**6,
                                                          nearest(WEAK_MEASURE_CONTEXT, window, at) or 10**6):
                continue  # "trained with the log loss as the objective" (but "... and evaluated by AUC" counts)
            strong = MEASURE_CONTEXT.search(window) is not None
            if strong or WEAK_MEASURE_CONTEXT.search(window):
                relative = match.group("rel") and not GAIN.match(clause[match.end():])
                shown = f"relative {value} (against a reference model)" if relative else value
                found.append(Finding(shown, kind, quote_at(match.start()), key="" if strong else "weak"))
                break
    return found


def nearest(pattern: re.Pattern[str], text: str, at: tuple[int, int]) -> int | None:
    """How far the pattern's closest match in `text` is from the span `at` (None: no match)."""
    distances = [max(at[0] - m.end(), m.start() - at[1], 0) for m in pattern.finditer(text)]
    return min(distances) if distances else None


def read_early_stopping(clause: str, quote_at: QuoteAt) -> list[Finding]:
    stop = positive_matches(EARLY_STOPPING, clause)
    if not stop:
        return []
    patience = PATIENCE.search(clause)
    monitor = MONITOR.search(clause)
    value = "early stopping"
    if monitor:
        metric = " ".join(monitor.group("m").split())
        value += f" on validation {metric}{'@' + monitor.group('k') if monitor.group('k') else ''}"
    if patience:
        value += f", patience {patience.group('a') or patience.group('b') or patience.group('c')}"
    return [Finding(value, "patience" if patience else "early stopping", quote_at(stop[0].start()))]


# --- from findings to the protocol ---------------------------------------------------------------------------


def findings(sentences: list[Sentence]) -> dict[str, list[Finding]]:
    """Every reader over every clause of the experiments, in reading order."""
    found: dict[str, list[Finding]] = {name: [] for name in
                                       ("split", "ranking", "filters", "metric_definition", "early_stopping")}
    before: tuple[str, QuoteAt] | None = None  # a clause whose percentages the next clause finishes
    for index, sentence in enumerate(sentences):
        for clause, offset in clauses(sentence):
            def quote_at(position: int, sentence: Sentence = sentence, offset: int = offset) -> str:
                return quote(sentence, offset + position)

            earlier = [s.text for s in sentences[max(0, index - DATASET_LOOKBACK): index]]
            found["split"] += [
                replace(f, dataset=dataset_before(" ".join([*earlier, sentence.text[: offset + f.at]])))
                for f in read_split(clause, quote_at, before)
            ]
            found["ranking"] += read_ranking(clause, quote_at)
            found["filters"] += read_filters(clause, quote_at)
            found["metric_definition"] += read_metric_definitions(clause, quote_at)
            found["early_stopping"] += read_early_stopping(clause, quote_at)
            before = (clause, quote_at) if unfinished(clause) else None
    return found


def item(finding: Finding, *more: Finding) -> ProtocolItem:
    evidence = [finding.evidence, *(f.evidence for f in more if f.evidence != finding.evidence)]
    return ProtocolItem(value=finding.value, evidence=" | ".join(evidence))


def joined(found: list[Finding]) -> ProtocolItem | None:
    if not found:
        return None
    evidence = list(dict.fromkeys(part for f in found for part in f.evidence.split(" | ")))
    return ProtocolItem(value="; ".join(f.value for f in found), evidence=" | ".join(evidence))


def choose_split(found: list[Finding]) -> ProtocolItem | None:
    """One split kind, stated consistently, and '; online A/B test' after it when the paper also ran one (alone when
    that is all it states)."""
    online = [f for f in found if f.kind == "online"]
    offline = offline_split([f for f in found if f.kind != "online"])
    if not online:
        return offline
    if offline is None:
        return item(online[0])
    return ProtocolItem(value=f"{offline.value}; {online[0].value}",
                        evidence=" | ".join([offline.evidence or "", online[0].evidence]).strip(" |"))


def offline_split(found: list[Finding]) -> ProtocolItem | None:
    """A time order stated apart from a ratio makes it temporal, and beside a leave-one-out is part of it; two
    different kinds (leave-one-out and a ratio, a ratio and a test period) or two different ratios are one per
    dataset when each statement names its own, else ambiguous: None."""
    kinds = {f.kind for f in found} - {"temporal"}
    if len(kinds) > 1 or len({SPLIT_NUMBERS.findall(f.value)[0] for f in found if f.kind == "ratio"}) > 1:
        return by_dataset(found)
    if len({f.value for f in found if f.kind == "temporal period"}) > 1:
        return by_dataset(found)
    order = [f for f in found if f.kind == "temporal"]
    if not kinds:
        return item(order[0]) if order else None
    kind = kinds.pop()
    same_kind = sorted((f for f in found if f.kind == kind), key=lambda f: -len(f.value))  # the most detailed first
    if kind == "leave-one-out":
        return item(next((f for f in same_kind if "latest" in f.value), same_kind[0]))
    if kind == "ratio" and order and not same_kind[0].value.startswith("temporal"):
        value = "temporal " + same_kind[0].value.removeprefix("random ")
        return item(Finding(value, "ratio", same_kind[0].evidence), order[0])
    return item(same_kind[0])


def dataset_before(text: str) -> str:
    """The dataset the text names last ('1) Criteo Dataset: ...', 'on the Yelp2018 dataset'), '' when none."""
    for match in reversed(list(DATASET_NAMED.finditer(text))):
        words = match.group("name").split()
        while words and words[0].lower() in NOT_A_NAME:
            words = words[1:]
        if words and words[0][0].isupper():
            return " ".join(words)
    return ""


def by_dataset(found: list[Finding]) -> ProtocolItem | None:
    """Splits that differ because each dataset has its own ('random 90/10 (Criteo); temporal (the last 1 day as test)
    (Company*)'): only when every statement names its dataset, one split for each, and two datasets or more; else
    the statements disagree and the split stays None."""
    stated_splits = [f for f in found if f.kind != "temporal"]
    if not stated_splits or any(not f.dataset for f in stated_splits):
        return None
    each: dict[str, list[Finding]] = {}
    for finding in stated_splits:
        each.setdefault(finding.dataset, []).append(finding)
    if len(each) < 2 or any(len({f.value for f in group}) > 1 for group in each.values()):
        return None
    if len({group[0].value for group in each.values()}) < 2:
        return None
    return ProtocolItem(value="; ".join(f"{group[0].value} ({name})" for name, group in each.items()),
                        evidence=" | ".join(dict.fromkeys(group[0].evidence for group in each.values())))


def choose_ranking(found: list[Finding]) -> ProtocolItem | None:
    """Full or sampled-N, when the paper states one of them only."""
    return item(found[0]) if len({f.value for f in found}) == 1 else None


def choose_filters(found: list[Finding]) -> ProtocolItem | None:
    """Every distinct filter (a k-core and a rating threshold both apply). Minimums that differ for the same side
    (one per dataset) are kept as one 'or' entry; a conversion to implicit feedback only when no threshold says
    how."""
    cores = unique([f for f in found if f.kind == "k-core"])
    by_side: dict[str, list[Finding]] = {}
    for finding in cores:
        by_side.setdefault(finding.key, []).append(finding)
    kept = [side[0] if len(side) == 1 else either(side) for side in by_side.values()]
    ratings = unique([f for f in found if f.kind == "threshold"]) or unique([f for f in found if f.kind == "implicit"])
    if len(ratings) > 1:
        ratings = [either(ratings)]
    repeats = unique([f for f in found if f.kind in ("repeats", "unseen")])
    return joined(kept + ratings + repeats)


def either(found: list[Finding]) -> Finding:
    """Several values for one filter (one per dataset): 'users with >= 5 or >= 20 interactions (by dataset)'."""
    bounds = [MINIMUM_VALUE.match(f.value) for f in found]
    if all(bounds) and len({b.group("side") for b in bounds}) == 1:
        value = f"{bounds[0].group('side')} with {' or '.join(b.group('bound') for b in bounds)} interactions"
    else:
        value = " or ".join(f.value for f in found)
    return Finding(f"{value} (by dataset)", found[0].kind, " | ".join(f.evidence for f in found), found[0].key)


def choose_metric_definition(found: list[Finding]) -> ProtocolItem | None:
    """One definition of each kind, the first clause that says how the measure is used before one that only names
    the data it is measured on."""
    return joined(unique(sorted(found, key=lambda f: f.key == "weak"), key=lambda f: f.kind))


def choose_early_stopping(found: list[Finding]) -> ProtocolItem | None:
    with_patience = [f for f in found if f.kind == "patience"]
    return item((with_patience or found)[0]) if found else None


def unique(found: list[Finding], key: Callable[[Finding], str] = lambda f: f.value) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for finding in found:
        seen.setdefault(key(finding), finding)
    return list(seen.values())


def read_protocol(doc: PaperDoc, sentences: list[Sentence], experiments: list[Sentence]) -> Protocol:
    """The protocol the experiments sections state. `doc` and `sentences` (the whole paper) are for readers that
    need more than the experiments; none does yet: the method sections rarely state the protocol, and the related
    work there states other papers'."""
    found = findings(experiments)
    return Protocol(
        split=choose_split(found["split"]),
        ranking=choose_ranking(found["ranking"]),
        filters=choose_filters(found["filters"]),
        metric_definition=choose_metric_definition(found["metric_definition"]),
        early_stopping=choose_early_stopping(found["early_stopping"]),
    )
