"""Build examples/papers/tinyprop.pdf: a short, illustrative paper written for this project.

The text is our own (not copied from any real paper); its numbers are illustrative only. The PDF is
committed and read offline by `make demo` and the tests. Rebuild with:

    python examples/papers/build_example.py [OUT.pdf]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pymupdf

OUT = Path(__file__).with_name("tinyprop.pdf")
PAGE_WIDTH, PAGE_HEIGHT = 612, 792
MARGIN = 54
GUTTER = 18
COLUMN_WIDTH = (PAGE_WIDTH - 2 * MARGIN - GUTTER) / 2

TITLE = "LightGCN: Light Graph Convolution for Collaborative Filtering, an Illustrative Description"
AUTHORS = "A. Example and B. Illustration\nExample Lab for Recommender Systems"

ABSTRACT = (
    "Abstract. We describe LightGCN, a small graph model for top-k recommendation from implicit feedback. "
    "LightGCN spreads user and item embeddings over the user-item graph without any weight matrix or "
    "nonlinear activation, averages the outputs of all layers and scores a pair by an inner product. "
    "This document is an illustrative re-description of the LightGCN model, written for and shipped with "
    "paper_autotrain; its text is our own and its numbers are not real results."
)

PAGES: list[list[str]] = [
    [
        "1 INTRODUCTION",
        "Collaborative filtering learns user and item representations from past interactions. Graph models "
        "treat the interactions as a bipartite user-item graph and refine each embedding with the embeddings "
        "of its neighbours. Many such models keep a feature transformation and a nonlinear activation in "
        "every layer, which adds parameters without helping ID-based recommendation. In this paper we "
        "describe a light model named LightGCN that keeps only the neighbourhood aggregation: a "
        "parameter-free propagation rule, a layer combination by averaging, and a "
        "short study on MovieLens-100K.",
        "2 METHOD",
        "2.1 Light Propagation",
        "Each user u and item i starts from a free ID embedding e_u(0) and e_i(0). One layer of light "
        "propagation sets e_u(k+1) to the sum over the items i of u of e_i(k) divided by the square root of "
        "the product of the degrees of u and i; items are updated in the same way from their users. We "
        "remove the feature transformation and the nonlinear activation, so the only trainable parameters "
        "are the embeddings of layer zero.",
        "2.2 Layer Combination and Prediction",
        "The final representation of a node is the mean of its embeddings at layers 0 to K. The score of a "
        "user-item pair is the inner product of the two final representations, and items are ranked by it.",
    ],
    [
        "2.3 Training",
        "We train LightGCN with the Bayesian Personalized Ranking (BPR) loss, a pairwise loss that "
        "prefers an "
        "observed item to a sampled unobserved one. For every observed pair we draw one negative item "
        "uniformly at random. An L2 penalty on the layer-zero embeddings is added to the BPR loss.",
        "3 EXPERIMENTS",
        "3.1 Experimental Settings",
        "Datasets. We use MovieLens-100K, which holds 100,000 ratings of 943 users on 1,682 movies; every "
        "rating is treated as an implicit interaction. The interactions of each user are split 80/10/10 "
        "into training, validation and test sets.",
        "Metrics. We report Recall@20 and NDCG@20 under the all-ranking protocol, where all items a user "
        "has not interacted with are candidates.",
        "Baselines. We compare with BPR-MF, a matrix factorization trained with the BPR loss, with NGCF, "
        "and with ItemKNN, an item-based neighbourhood method.",
        "Hyper-parameter Settings. The embedding size is set to 32 for all models. We optimize LightGCN with "
        "Adam and a learning rate of 0.005. The mini-batch size is 2048. We use two propagation layers, "
        "that is, K equals to 2 where K is the number of layers. The L2 regularization coefficient is set "
        "to 1e-4. We train LightGCN for 40 epochs.",
    ],
    [
        "3.2 Results",
        "Table 1 lists the illustrative results. LightGCN is slightly ahead of the baselines on both "
        "metrics. The numbers were made up for this example and only show the shape of a results table.",
        "TABLE",
        "4 CONCLUSION",
        "We described LightGCN, a light propagation model with layer averaging and an inner-product score, "
        "trained with the BPR loss. The paper exists to exercise the paper_autotrain pipeline end to end.",
    ],
]

TABLE_CAPTION = "Table 1: Overall performance on MovieLens-100K (illustrative numbers)."
TABLE_ROWS = [
    ["Method", "Recall@20", "NDCG@20"],
    ["ItemKNN", "0.2811", "0.2540"],
    ["BPR-MF", "0.3012", "0.2688"],
    ["NGCF", "0.3175", "0.2841"],
    ["LightGCN", "0.3204", "0.2869"],
]


class ColumnWriter:
    """Writes paragraphs down the left column, then the right one."""

    def __init__(self, page: pymupdf.Page, top: float) -> None:
        self.page = page
        self.column = 0
        self.y = top
        self.top = top

    def x(self) -> float:
        return MARGIN + self.column * (COLUMN_WIDTH + GUTTER)

    def write(self, text: str, fontsize: float = 9.0, font: str = "helv") -> None:
        height = self._height(text, fontsize)
        if self.y + height > PAGE_HEIGHT - MARGIN and self.column == 0:
            self.column, self.y = 1, self.top
        while True:  # insert_textbox writes nothing and returns < 0 when the box is too small
            rect = pymupdf.Rect(self.x(), self.y, self.x() + COLUMN_WIDTH, self.y + height)
            spare = self.page.insert_textbox(rect, text, fontsize=fontsize, fontname=font)
            if spare >= 0:
                self.y += height - spare + 8
                return
            height += -spare + 2

    def _height(self, text: str, fontsize: float) -> float:
        width = pymupdf.get_text_length(text, fontname="helv", fontsize=fontsize)
        lines = int(width / (COLUMN_WIDTH - 12)) + 1 + text.count("\n")
        return lines * fontsize * 1.3 + 4

    def table(self) -> None:
        self.write(TABLE_CAPTION, 8.5)
        widths = (0.4, 0.3, 0.3)
        for row in TABLE_ROWS:
            x = self.x()
            for cell, share in zip(row, widths, strict=True):
                self.page.insert_text((x, self.y + 8), cell, fontsize=8.5, fontname="helv")
                x += share * COLUMN_WIDTH
            self.y += 12
        self.y += 24


def build(out: Path = OUT) -> Path:
    doc = pymupdf.open()
    doc.set_metadata({"title": TITLE, "author": "A. Example, B. Illustration"})
    for index, paragraphs in enumerate(PAGES):
        page = doc.new_page(width=PAGE_WIDTH, height=PAGE_HEIGHT)
        top = MARGIN
        if index == 0:
            page.insert_textbox(
                pymupdf.Rect(MARGIN, top, PAGE_WIDTH - MARGIN, top + 30),
                TITLE,
                fontsize=16,
                fontname="hebo",
                align=1,
            )
            page.insert_textbox(
                pymupdf.Rect(MARGIN, top + 32, PAGE_WIDTH - MARGIN, top + 60),
                AUTHORS,
                fontsize=10,
                fontname="helv",
                align=1,
            )
            page.insert_textbox(
                pymupdf.Rect(MARGIN + 30, top + 66, PAGE_WIDTH - MARGIN - 30, top + 140),
                ABSTRACT,
                fontsize=9,
                fontname="helv",
            )
            top += 150
        writer = ColumnWriter(page, top)
        for paragraph in paragraphs:
            if paragraph == "TABLE":
                writer.table()
            elif paragraph[:1].isdigit() and len(paragraph) < 60:
                writer.write(paragraph, 10, "hebo")
            else:
                writer.write(paragraph)
        page.insert_text((PAGE_WIDTH / 2 - 4, PAGE_HEIGHT - 30), str(index + 1), fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc.save(out, garbage=3, deflate=True)
    doc.close()
    return out


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
