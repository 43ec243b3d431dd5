"""Knowledge-aware models read from fixture papers that describe them in prose (CKE, CFKG, KGCN): each paper is read
into its model's blocks (the knowledge scaffold, templates/knowledge/), comes out `faithful` with RecBole's class of it
as the reference, renders, passes validate's gates and trains a few epochs on a synthetic split with a synthetic
knowledge graph; each block equals a hand computation of its paper's equation. The knowledge regime itself (the KG
files linked onto the top-k split, the same split id) is tested on RecBole's shipped ML-100K files. The fixture papers
are written the way papers describe their methods; none is a real paper."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from paper_autotrain.artifacts import save_npz
from paper_autotrain.data.candidates import draw_candidates
from paper_autotrain.data.evaluator import full_sort_evaluate
from paper_autotrain.data.knowledge import KNOWLEDGE_FILE, load_knowledge_split, prepare_knowledge_split
from paper_autotrain.data.split import prepare_configured_split
from paper_autotrain.errors import UserError
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.regimes import family_regime, regime
from paper_autotrain.runtime.knowledge import HeadTailPairs, corrupted_triples, segment_matmul
from paper_autotrain.schemas import MethodSpec, SplitInfo
from paper_autotrain.stages import render
from paper_autotrain.stages.baselines import recbole_config
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import (
    passes_the_gates_and_trains,
    rendered,
    spec_of,
    synthetic_split_info,
    with_block_params,
    with_values,
)

SETTINGS = ("We use the MovieLens-1M and Book-Crossing datasets and report Recall@20 and NDCG@20. "
            "Table 2 reports the overall performance.")

CKE_PAPER = [
    ["Collaborative Knowledge Base Embedding for Recommender Systems",
     "Abstract. Among the various recommendation methods, collaborative filtering suffers from the sparsity of "
     "user-item interactions. We leverage the heterogeneous information in a knowledge base to improve the quality "
     "of recommender systems. We propose Collaborative Knowledge Base Embedding (CKE), which jointly learns the "
     "latent representations in collaborative filtering and the items' semantic representations from the "
     "knowledge base.",
     "1 INTRODUCTION",
     "Matrix factorization maps users and items to latent vectors. A knowledge base stores facts about items as "
     "triples of a head entity, a relation and a tail entity."],
    ["2 METHODOLOGY",
     "2.1 Structural Embedding",
     "The structural knowledge is a heterogeneous network of entities and relations. We adopt TransR, a "
     "heterogeneous network embedding method, to extract the items' structural representations. For each relation "
     "r, a projection matrix M_r maps the entities from the entity space to the relation space, and the score of a "
     "triple is f_r(v_h, v_t) = ||v_h M_r + r - v_t M_r||^2. We use a Bayesian formulation: for a triple (h, r, t) "
     "and a corrupted tail t', the probability is sigma(f_r(v_h, v_t') - f_r(v_h, v_t)).",
     "2.2 Collaborative Joint Learning",
     "The latent vector of item j is its latent offset plus its structural embedding, e_j = eta_j + v_j. The "
     "preference of user i for item j is the inner product of the user latent vector u_i and e_j. We jointly "
     "learn the collaborative filtering and the knowledge base embedding by maximising the pairwise log "
     "likelihood of the users' preferences with the pairwise BPR loss together with the likelihood of the "
     "triples, with L2 regularization on the parameters."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. The dimension of the user and item embeddings is 64 and the dimension of the relation space is "
     "32. We optimize CKE with Adam, the learning rate is 0.001 and the batch size is 2048."],
]

CKE_FULL_PAPER = [CKE_PAPER[0], CKE_PAPER[1] + [
     "2.3 Textual Embedding",
     "We apply stacked denoising auto-encoders to the textual knowledge of each item, and the middle layer of the "
     "auto-encoder is the item's textual representation.",
     "2.4 Visual Embedding",
     "We apply stacked convolutional auto-encoders to the images of each item to extract its visual "
     "representation."], CKE_PAPER[2]]

CFKG_PAPER = [
    ["Learning Heterogeneous Knowledge Base Embeddings for Explainable Recommendation",
     "Abstract. Providing model-generated explanations in recommender systems is important to user experience. "
     "We propose to integrate the traditional collaborative filtering with the learning of a knowledge base "
     "embedding over the users, the items and the knowledge entities. We call the approach Collaborative "
     "Filtering with Knowledge Graph (CFKG).",
     "1 INTRODUCTION",
     "Knowledge base embedding models such as TransE represent the entities of a knowledge graph as vectors and a "
     "relation as a translation between them."],
    ["2 METHODOLOGY",
     "2.1 User-Item Knowledge Graph",
     "We construct a user-item knowledge graph whose entities are the users, the items and the other entities of "
     "the knowledge base. The purchase of an item by a user is regarded as a relation named buy, beside the "
     "relations between items and their attributes, so that users, items and entities are embedded in the same "
     "latent space.",
     "2.2 Translation-based Embedding",
     "Each relation is a translation vector in the embedding space: for a triple (h, r, t) the head entity plus "
     "the relation should be close to the tail entity, h + r = t. We learn the embeddings by maximising the "
     "likelihood of the observed triples with negative sampling, a logistic loss on the observed triples and on "
     "randomly sampled tails.",
     "2.3 Recommendation",
     "The preference of user u for item i is the inner product of the translated user vector u + r_buy and the "
     "item vector."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is 64. We train CFKG with Adam, the learning rate is 0.001 and the batch "
     "size is 2048."],
]

KGCN_PAPER = [
    ["Knowledge Graph Convolutional Networks for Recommender Systems",
     "Abstract. To alleviate the sparsity and cold start problem of collaborative filtering, researchers use the "
     "side information of items in a knowledge graph. We propose Knowledge Graph Convolutional Networks (KGCN), "
     "an end-to-end framework that captures inter-item relatedness by mining their associated attributes on the "
     "knowledge graph.",
     "1 INTRODUCTION",
     "Graph convolutional networks aggregate the information of the neighbours of a node. We extend them to the "
     "knowledge graph, where the relations between entities carry meaning."],
    ["2 KGCN",
     "2.1 KGCN Layer",
     "Each item is an entity of the knowledge graph. For a user u and a relation r, the user-relation score "
     "pi = g(u, r) is the inner product of the user and relation embeddings; it characterises the importance of "
     "relation r to user u. To characterise the topological proximity of an item v, we compute the linear "
     "combination of its neighbourhood weighted by the normalised user-relation scores (a softmax over the "
     "neighbours). We uniformly sample a fixed-size set of neighbours for each entity instead of using all of "
     "its neighbours. The entity representation and its neighbourhood representation are aggregated into a "
     "single vector by one of three aggregators: the sum aggregator sigma(W (v + v_N) + b), the concat "
     "aggregator and the neighbor aggregator.",
     "2.2 Learning Algorithm",
     "We extend the receptive field of each entity to multiple hops. The final H-order entity representation of "
     "item v is the item's user-specific representation, and the predicted probability is the inner product of "
     "the user embedding and the item representation. We use negative sampling and the cross-entropy loss, with "
     "L2 regularization."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. We use the sum aggregator. The embedding size is 32, the neighbor sampling size K is 4 and the "
     "depth of receptive field H is 2. We train KGCN with Adam, the learning rate is 0.0005 and the batch size "
     "is 1024."],
]


KGAT_PAPER = [
    ["KGAT: Knowledge Graph Attention Network for Recommendation",
     "Abstract. To provide more accurate, diverse and explainable recommendation, it is compulsory to go beyond "
     "modeling user-item interactions and take side information into account. We propose the Knowledge Graph "
     "Attention Network (KGAT), which explicitly models the high-order connectivities in a knowledge graph in an "
     "end-to-end fashion.",
     "1 INTRODUCTION",
     "Supervised learning methods treat each interaction as an independent instance with side information "
     "encoded, and fail to capture the relations among instances. A knowledge graph links the items by their "
     "attributes."],
    ["2 METHODOLOGY",
     "2.1 Collaborative Knowledge Graph",
     "We represent each user behaviour as a triplet (u, Interact, i), where Interact is an additional relation "
     "between users and items. The user-item graph is then seamlessly integrated with the knowledge graph as a "
     "unified graph, which we call the collaborative knowledge graph (CKG).",
     "2.2 Embedding Layer",
     "We employ TransR on the CKG: it learns the embeddings of entities and relations by optimising the "
     "translation principle W_r e_h + e_r = W_r e_t, where W_r projects the entities into the space of relation "
     "r. The plausibility score is g(h, r, t) = ||W_r e_h + e_r - W_r e_t||^2, and the training encourages the "
     "discrimination between valid triplets and broken ones through a pairwise ranking loss.",
     "2.3 Attentive Embedding Propagation Layers",
     "An entity h can participate in multiple triplets, and the ego-network of h is the set of triplets where h "
     "is the head. We compute the linear combination of the ego-network, e_N = sum pi(h, r, t) e_t, where the "
     "knowledge-aware attention pi(h, r, t) = (W_r e_t)^T tanh(W_r e_h + e_r) decides how much information is "
     "propagated from t to h conditioned on relation r. We normalise the coefficients across all triplets "
     "connected with h with the softmax function. The final phase aggregates the entity representation e_h and "
     "its ego-network representation e_N as the new representation of entity h with the Bi-Interaction "
     "aggregator, LeakyReLU(W1 (e_h + e_N)) + LeakyReLU(W2 (e_h * e_N)); we also consider the GCN aggregator and "
     "the GraphSage aggregator. We further stack more propagation layers to explore the high-order "
     "connectivity information.",
     "2.4 Model Prediction",
     "After performing L layers, we obtain multiple representations for the user node and the item node. We "
     "concatenate the representations at each layer into a single vector, and conduct the inner product of the "
     "user and item representations to predict their matching score.",
     "2.5 Optimization",
     "To optimise the recommendation model, we opt for the BPR loss, which assumes that the observed "
     "interactions should be assigned higher prediction values than unobserved ones. We alternatively optimise "
     "the TransR loss and the BPR loss, with L2 regularization on the parameters."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is 64 for all models and the number of propagation layers is 3. We use the "
     "Bi-Interaction aggregator and a message dropout ratio of 0.1. We optimize KGAT with Adam, the learning rate "
     "is 0.0001 and the batch size is 1024."],
]


RIPPLENET_PAPER = [
    ["RippleNet: Propagating User Preferences on the Knowledge Graph for Recommender Systems",
     "Abstract. To address the sparsity and cold start problem of collaborative filtering, researchers usually "
     "make use of side information, such as a knowledge graph. We propose RippleNet, an end-to-end framework that "
     "naturally incorporates the knowledge graph into recommender systems. Similar to actual ripples propagating "
     "on the water, RippleNet stimulates the propagation of user preferences over the set of knowledge entities.",
     "1 INTRODUCTION",
     "Embedding-based methods pre-process a knowledge graph with knowledge graph embedding algorithms, and "
     "path-based methods explore the connections among items along meta-paths."],
    ["2 RIPPLENET",
     "2.1 Ripple Set",
     "Given the knowledge graph, the set of k-hop relevant entities for user u is the set of tails of the triples "
     "whose heads are the (k-1)-hop relevant entities, starting from the items the user clicked in the past. The "
     "k-hop ripple set of user u is the set of knowledge triples starting from the (k-1)-hop relevant entities. "
     "We sample a fixed-size set of triples in each ripple set.",
     "2.2 Preference Propagation",
     "Each item v is associated with an item embedding v. Given the item embedding v and the 1-hop ripple set of "
     "user u, each triple (h_i, r_i, t_i) is assigned a relevance probability by comparing the item v to the head "
     "h_i and the relation r_i in this triple, p_i = softmax(v^T R_i h_i), where R_i is the embedding matrix of "
     "the relation. The user's 1-order response is the sum of the tails weighted by the relevance probabilities, "
     "o^1 = sum p_i t_i. Through preference propagation, a user's interests spread from the history set along "
     "the links in the knowledge graph. We repeat the procedure on the 2-hop ripple set by replacing v with o^1, "
     "and so on up to the maximal hop H. The embedding of user u is the sum of the responses of all orders, "
     "u = o^1 + o^2 + ... + o^H, and the predicted click probability is sigma(u^T v).",
     "2.3 Learning Algorithm",
     "We maximise the posterior probability of the model parameters given the knowledge graph and the implicit "
     "feedback: the loss is the cross-entropy between the predicted probabilities and the observed clicks, with "
     "negative sampling, plus the knowledge graph embedding term that measures the squared error between the "
     "indicator tensor of the knowledge graph and its reconstruction by the entity and relation embeddings, and "
     "an L2 regularization term on the embeddings."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is 16, the maximal hop number H is 2 and the size of the ripple set in each "
     "hop is 32. We train RippleNet with Adam, the learning rate is 0.02 and the batch size is 1024."],
]


PAPERS = {
    "CKE": (CKE_PAPER, ["embedding", "transr_kg", "dot_score"], "bpr"),
    "CFKG": (CFKG_PAPER, ["embedding", "translation_kg"], "bce"),
    "KGCN": (KGCN_PAPER, ["embedding", "kgcn_aggregation"], "bce"),
    "KGAT": (KGAT_PAPER, ["embedding", "kgat_propagation", "dot_score"], "bpr"),
    "RippleNet": (RIPPLENET_PAPER, ["embedding", "ripple_propagation"], "bce"),
}


def write_knowledge(folder: Path, n_items: int, seed: int = 0) -> None:
    """A synthetic knowledge graph beside a synthetic split: 15 entities beyond the items, 3 relations."""
    rng = np.random.default_rng(seed)
    n_entities, n_relations, count = n_items + 15, 3, 120
    triples = np.stack([rng.integers(0, n_entities, count), rng.integers(0, n_relations, count),
                        rng.integers(0, n_entities, count)], 1).astype(np.int64)
    save_npz(folder / KNOWLEDGE_FILE, kg_digest=np.array("synthetic"), n_entities=np.int64(n_entities),
             n_relations=np.int64(n_relations), triples=triples)


@pytest.fixture(scope="module")
def split_info(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    info = synthetic_split_info(tmp_path_factory.mktemp("split"), "knowledge")
    write_knowledge(Path(info.path), info.n_items)
    return info


def model_of(paper: list[list[str]], split_info: SplitInfo, folder: Path, **values: object) -> torch.nn.Module:
    spec = with_values(spec_of(folder / "paper", paper), embedding_size=8, **values)
    model_folder = rendered(spec, folder / "model")
    return build_model(model_folder, load_config(model_folder), load_knowledge_split(split_info.path)).eval()


# --- the regime ------------------------------------------------------------------------------------------

@pytest.mark.slow  # splits ML-100K (6 s at a load average of 15)
def test_the_knowledge_split_is_the_topk_split_with_the_kg_linked_onto_its_items(tmp_path):
    dataset = {"name": "ml-100k"}
    info = prepare_knowledge_split(dataset, tmp_path)
    assert info.split_id == prepare_configured_split(dataset, tmp_path).split_id  # baselines compare on the same data
    split = load_knowledge_split(info.path)
    examples = Path(info.path) / "ml-100k"
    link = dict(line.split("\t") for line in (examples / "ml-100k.link").read_text().splitlines()[1:])
    kg = [line.split("\t") for line in (examples / "ml-100k.kg").read_text().splitlines()[1:]]
    assert len(split.triples) == len(kg) and split.n_relations == len({r for _, r, _ in kg})
    assert split.n_entities > split.n_items and split.triples[:, [0, 2]].max() < split.n_entities
    # the first triple's item-side entities are the linked items themselves (item i is entity i)
    entity_of = {entity: item for item, entity in link.items()}
    for (head, _, tail), (h, _, t) in zip(kg[:200], split.triples[:200], strict=True):
        for token, index in ((head, h), (tail, t)):
            if token in entity_of and entity_of[token] in set(split.item_tokens):
                assert split.item_tokens[index] == entity_of[token]
            else:
                assert index >= split.n_items
    assert family_regime("knowledge").name == "knowledge"


def test_a_dataset_without_kg_files_is_one_actionable_error(tmp_path):
    (tmp_path / "toy.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(UserError, match=r"toy\.kg and .*toy\.link"):
        prepare_knowledge_split({"name": "toy", "path": str(tmp_path)}, tmp_path / "splits")


def test_recboles_config_loads_the_kg_and_link_fields_in_the_knowledge_regime():
    config = recbole_config({}, {"regime": "knowledge"})
    assert config["load_col"] == {"inter": ["user_id", "item_id"], "kg": ["head_id", "relation_id", "tail_id"],
                                  "link": ["item_id", "entity_id"]}
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert regime("knowledge").baseline_scorer == regime("topk").baseline_scorer


# --- reading -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks, loss = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.trained_loss, spec.model_name) == ("knowledge", "topk", loss, model)
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == model == composition_class("knowledge", blocks, spec.trained_loss)
    found = reference_with_notes(spec)
    assert found is not None and found[0] == model


def test_cke_with_textual_and_visual_knowledge_names_them_as_unbuilt(tmp_path):
    spec = spec_of(tmp_path, CKE_FULL_PAPER)
    assert [block.block for block in spec.architecture] == ["embedding", "transr_kg", "dot_score"]
    assert spec.fidelity.verdict == "partial"
    assert sorted(spec.fidelity.missing) == [
        "textual knowledge embedding (auto-encoders of the items' texts)",
        "visual knowledge embedding (convolutional auto-encoders of the items' images)"]


def test_a_paper_without_a_knowledge_graph_is_not_read_as_a_knowledge_model(tmp_path):
    pages = [["Matrix Factorization for Implicit Feedback",
              "Abstract. We propose a matrix factorization model for implicit feedback trained with the pairwise "
              "BPR loss."],
             ["2 METHOD", "Users and items are mapped to latent vectors; the preference score is the inner "
              "product of the user and item embeddings, trained with the BPR loss."]]
    spec = spec_of(tmp_path, pages)
    assert spec.family == "general" and [b.block for b in spec.architecture] == ["embedding", "dot_score"]


def test_a_knowledge_graph_paper_with_another_method_builds_none_of_these_models(tmp_path):
    pages = [["Multi-Task Feature Learning for Knowledge Graph Enhanced Recommendation",
              "Abstract. We propose a multi-task framework that uses the knowledge graph embedding task to assist "
              "the recommendation task."],
             ["2 METHOD", "The two tasks are associated by cross&compress units, which learn the high-order "
              "interactions between the item embeddings and the entity embeddings. The latent features of items "
              "and their entities are shared between the recommendation module and the knowledge graph "
              "embedding module."]]
    spec = spec_of(tmp_path, pages)
    assert spec.family == "knowledge" and spec.fidelity.verdict != "faithful"
    assert "cross-and-compress units sharing item and entity features between the tasks" in spec.fidelity.missing
    assert not ({"transr_kg", "translation_kg", "kgcn_aggregation", "kgat_propagation", "ripple_propagation"}
                & {b.block for b in spec.architecture})


def test_a_kgat_paper_is_not_read_as_cke_nor_a_ripplenet_paper_as_kgat(tmp_path):
    """KGAT states TransR (CKE's part) too; RippleNet's attention is not KGAT's: each comes out as itself."""
    kgat = spec_of(tmp_path / "kgat", KGAT_PAPER)
    assert "transr_kg" not in {b.block for b in kgat.architecture} and kgat.reference == "KGAT"
    ripple = spec_of(tmp_path / "ripple", RIPPLENET_PAPER)
    assert "kgat_propagation" not in {b.block for b in ripple.architecture} and ripple.reference == "RippleNet"


def test_the_stated_values_reach_the_blocks_and_recboles_config(tmp_path):
    cke = spec_of(tmp_path / "cke", CKE_PAPER)
    assert render.resolve_block_params(cke, render.base_for(cke).blocks)[0] == {
        "embedding_size": 64, "kg_embedding_size": 32, "kg_weight": 1.0}
    model, overrides, _ = reference_with_notes(cke)
    assert (model, overrides["kg_embedding_size"], overrides["reg_weights"]) == ("CKE", 32, [0.0, 0.0])
    kgcn = spec_of(tmp_path / "kgcn", KGCN_PAPER)
    assert render.resolve_block_params(kgcn, render.base_for(kgcn).blocks)[0] == {
        "embedding_size": 32, "n_iter": 2, "neighbor_sample_size": 4}
    model, overrides, notes = reference_with_notes(kgcn)
    assert model == "KGCN" and overrides["learning_rate"] == 0.0005 and overrides["train_batch_size"] == 1024
    assert (overrides["n_iter"], overrides["neighbor_sample_size"], overrides["aggregator"]) == (2, 4, "sum")
    assert any("inner product" in note for note in notes)
    model, overrides, _ = reference_with_notes(spec_of(tmp_path / "cfkg", CFKG_PAPER))
    assert model == "CFKG" and overrides["loss_function"] == "inner_product"
    kgat = spec_of(tmp_path / "kgat", KGAT_PAPER)
    assert render.resolve_block_params(kgat, render.base_for(kgat).blocks)[0] == {
        "embedding_size": 64, "n_layers": 3, "kg_embedding_size": 64, "message_dropout": 0.1, "kg_weight": 1.0}
    model, overrides, notes = reference_with_notes(kgat)
    assert model == "KGAT" and overrides["learning_rate"] == 0.0001 and overrides["train_batch_size"] == 1024
    assert (overrides["layers"], overrides["mess_dropout"], overrides["aggregator_type"]) == ([64, 64, 64], 0.1, "bi")
    assert any("once per epoch" in note for note in notes)
    ripple = spec_of(tmp_path / "ripple", RIPPLENET_PAPER)
    assert render.resolve_block_params(ripple, render.base_for(ripple).blocks)[0] == {
        "embedding_size": 16, "n_hop": 2, "n_memory": 32, "kg_weight": 0.01}
    model, overrides, notes = reference_with_notes(ripple)
    assert model == "RippleNet" and overrides["learning_rate"] == 0.02 and overrides["embedding_size"] == 16
    assert (overrides["n_hop"], overrides["n_memory"], overrides["kg_weight"]) == (2, 32, 0.01)
    assert any("u^T v" in note for note in notes)


# --- the blocks against their papers' equations ----------------------------------------------------------------

def test_cke_scores_the_user_against_the_item_offset_by_its_entity_and_its_kg_term_is_bayesian_transr(
        split_info, tmp_path):
    model = model_of(CKE_PAPER, split_info, tmp_path, kg_embedding_size=4)
    users, items = torch.tensor([0, 3]), torch.tensor([5, 1])
    with torch.no_grad():
        expected = (model.user_embedding.weight[users]
                    * (model.item_embedding.weight[items] + model.entity_embedding.weight[items])).sum(-1)
        torch.testing.assert_close(model.score(users, items), expected)
        heads, relations, tails = torch.tensor([2, 40]), torch.tensor([0, 2]), torch.tensor([70, 1])
        m_r = model.relation_projection[relations]
        unit = torch.nn.functional.normalize
        h = unit(torch.einsum("bd,bdk->bk", model.entity_embedding.weight[heads], m_r), dim=-1)
        t = unit(torch.einsum("bd,bdk->bk", model.entity_embedding.weight[tails], m_r), dim=-1)
        r = unit(model.relation_embedding.weight[relations], dim=-1)
        torch.testing.assert_close(model.transr_distance(heads, relations, tails), ((h + r - t) ** 2).sum(-1))


def test_cfkg_translates_the_user_by_buy_and_shares_the_items_rows_with_the_kg(split_info, tmp_path):
    model = model_of(CFKG_PAPER, split_info, tmp_path)
    buy = model.relation_embedding.weight[-1]
    users, items = torch.tensor([0, 3]), torch.tensor([5, 1])
    with torch.no_grad():
        expected = ((model.user_embedding.weight[users] + buy) * model.item_embedding.weight[items]).sum(-1)
        torch.testing.assert_close(model.score(users, items), expected)
        entities = torch.tensor([5, split_info.n_items + 2])
        rows = model.entity_rows(entities)
        torch.testing.assert_close(rows[0], model.item_embedding.weight[5])
        torch.testing.assert_close(rows[1], model.other_entity_embedding.weight[2])
    assert len(model.relation_embedding.weight) == load_knowledge_split(split_info.path).n_relations + 1


def test_cfkgs_kg_term_is_the_log_loss_of_the_drawn_facts_against_the_joined_entity_table(split_info, tmp_path):
    """The KG term looks its entities up in the item and other-entity tables apart (no joined copy a step): the value
    and the gradients of the log loss over the joined table's rows of the same drawn triples."""
    model = model_of(CFKG_PAPER, split_info, tmp_path)
    tables = [model.item_embedding.weight, model.other_entity_embedding.weight, model.relation_embedding.weight]
    torch.manual_seed(3)
    loss = model.knowledge_loss(32)
    grads = torch.autograd.grad(loss, tables)
    torch.manual_seed(3)
    heads, relations, tails, corrupted = corrupted_triples(model.triples, 32, model.n_entities)
    entities = torch.cat(tables[:2])
    translated = entities[heads] + tables[2][relations]
    logits = torch.cat([(translated * entities[tails]).sum(-1), (translated * entities[corrupted]).sum(-1)])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, (torch.arange(64) < 32).float())
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, torch.autograd.grad(expected, tables), strict=True):
        torch.testing.assert_close(got, want)
    assert (heads >= model.n_items).any() and (tails < model.n_items).any()  # both tables' rows drawn


def test_kgcn_ranks_its_sampled_candidates_scored_alone_as_its_full_sort_does(split_info, tmp_path):
    model = model_of(KGCN_PAPER, split_info, tmp_path, n_iter=1, neighbor_sample_size=3)
    model.candidates = draw_candidates(model.split, 5, seed=0)
    assert model.pair_cost() == 1.0  # the generic full sort: its candidates are scored alone (6 of 60 items)
    with model.eval_mode():
        full = full_sort_evaluate(model.full_sort_scores, model.split, "test", ks=model.ks, candidates=model.candidates)
    model.full_sort_with = lambda *args: pytest.fail("the candidates' path calls no full sort")
    alone = model.evaluate("test")
    assert 0.0 < full.mean["ndcg@10"] < 1.0
    for name, values in full.per_user.items():
        np.testing.assert_array_equal(alone.per_user[name], values, err_msg=name)


def test_kgcn_aggregates_sampled_neighbours_by_user_specific_relation_attention(split_info, tmp_path):
    model = model_of(KGCN_PAPER, split_info, tmp_path, n_iter=1, neighbor_sample_size=3)
    split = load_knowledge_split(split_info.path)
    edges = {(int(a), int(b), int(r)) for a, b, r in zip(*split.neighbours(), strict=True)}
    for entity in range(split.n_entities):  # each sampled neighbour is a KG neighbour (or the entity itself: none)
        for neighbour, relation in zip(model.adjacent_entities[entity].tolist(), model.adjacent_relations[entity]
                                       .tolist(), strict=True):
            assert (entity, neighbour, relation) in edges or (neighbour, relation) == (entity, 0)
    user, item = 2, 4
    with torch.no_grad():
        entities = torch.cat([model.item_embedding.weight, model.other_entity_embedding.weight])
        u = model.user_embedding.weight[user]
        neighbours, relations = model.adjacent_entities[item], model.adjacent_relations[item]
        pi = torch.softmax(model.relation_embedding.weight[relations] @ u, dim=0)
        around = (pi[:, None] * entities[neighbours]).sum(0)
        layer = model.aggregators[0]
        v_u = torch.tanh(layer.weight @ (entities[item] + around) + layer.bias)  # the sum aggregator, last iteration
        torch.testing.assert_close(model.score(torch.tensor([user]), torch.tensor([item])), (u @ v_u).reshape(1))
        full = model.full_sort_scores(torch.tensor([user]))
        torch.testing.assert_close(full[0, item], u @ v_u)


def test_kgcns_code_mode_takes_means_over_the_dimension_and_the_neighbours(split_info, tmp_path):
    """reduce: mean (the authors' code's, RecBole's): pi = softmax(mean_d(u * r)), v_N = mean_K(pi * e)."""
    spec = with_values(spec_of(tmp_path / "paper", KGCN_PAPER), embedding_size=8, n_iter=1, neighbor_sample_size=3)
    spec = with_block_params(spec, "kgcn_aggregation", reduce="mean")
    folder = rendered(spec, tmp_path / "model")
    model = build_model(folder, load_config(folder), load_knowledge_split(split_info.path)).eval()
    user, item = 2, 4
    with torch.no_grad():
        entities = torch.cat([model.item_embedding.weight, model.other_entity_embedding.weight])
        u = model.user_embedding.weight[user]
        neighbours, relations = model.adjacent_entities[item], model.adjacent_relations[item]
        pi = torch.softmax(model.relation_embedding.weight[relations] @ u / 8, dim=0)
        around = (pi[:, None] * entities[neighbours]).sum(0) / 3
        layer = model.aggregators[0]
        v_u = torch.tanh(layer.weight @ (entities[item] + around) + layer.bias)
        torch.testing.assert_close(model.score(torch.tensor([user]), torch.tensor([item])), (u @ v_u).reshape(1))
    _, _, notes = reference_with_notes(spec)
    assert any(note.startswith("reduce: mean, as RecBole's KGCN") for note in notes)


def test_kgat_propagates_over_the_collaborative_knowledge_graph_with_knowledge_aware_attention(split_info, tmp_path):
    model = model_of(KGAT_PAPER, split_info, tmp_path, n_layers=1, relation_embedding_size=4)
    split = load_knowledge_split(split_info.path)
    n_users, n_relations = split.n_users, split.n_relations
    # the CKG: every train interaction (u, interact, i) and KG triple, each with its inverse
    triples = {tuple(row) for row in model.ckg_triples.tolist()}
    interact = 2 * n_relations
    assert {(u, interact, n_users + i) for u, i in split.train.tolist()} <= triples
    assert {(n_users + i, interact + 1, u) for u, i in split.train.tolist()} <= triples
    assert {(n_users + h, r, n_users + t) for h, r, t in split.triples.tolist()} <= triples
    assert {(n_users + t, r + n_relations, n_users + h) for h, r, t in split.triples.tolist()} <= triples
    assert len(triples) == len(model.ckg_triples)
    with torch.no_grad():
        nodes = torch.cat([model.user_embedding.weight, model.item_embedding.weight,
                           model.other_entity_embedding.weight])
        w_r, e_r = model.relation_projection, model.relation_embedding.weight

        def propagated(node: int) -> torch.Tensor:
            """e_h || f(e_h, e_N) with e_N = sum pi(h, r, t) e_t, pi softmax-normalised over h's triples."""
            mine = [(r, t) for h, r, t in triples if h == node]
            scores = torch.stack([(nodes[t] @ w_r[r]) @ torch.tanh(nodes[node] @ w_r[r] + e_r[r]) for r, t in mine])
            pi = torch.softmax(scores, 0)
            e_n = sum(p * nodes[t] for p, (_, t) in zip(pi, mine, strict=True))
            act = torch.nn.functional.leaky_relu
            bi = (act(model.kgat_w1[0].weight @ (nodes[node] + e_n), 0.2)
                  + act(model.kgat_w2[0].weight @ (nodes[node] * e_n), 0.2))  # the Bi-Interaction aggregator
            return torch.cat([nodes[node], bi])

        user, item = 2, 4
        expected = propagated(user) @ propagated(n_users + item)
        torch.testing.assert_close(model.score(torch.tensor([user]), torch.tensor([item])), expected.reshape(1))
        torch.testing.assert_close(model.full_sort_scores(torch.tensor([user]))[0, item], expected)
        heads, relations, tails = torch.tensor([2, n_users + 7]), torch.tensor([interact, 1]), torch.tensor([50, 9])
        h = torch.einsum("bd,bdk->bk", nodes[heads], w_r[relations])
        t = torch.einsum("bd,bdk->bk", nodes[tails], w_r[relations])
        torch.testing.assert_close(model.transr_plausibility(heads, relations, tails),
                                   ((h + e_r[relations] - t) ** 2).sum(-1))


def test_kgat_attention_per_epoch_holds_pi_through_the_epoch_as_recboles_kgat(split_info, tmp_path):
    """attention: epoch (the authors' code, RecBole's): the first epoch trains on 1 / |(h, r)'s triples| per triple,
    later epochs on pi of the embeddings at the epoch's start, without gradient; evaluation on pi of the current
    embeddings. The default (step) recomputes pi in every forward pass, with gradient."""
    spec = with_values(spec_of(tmp_path / "paper", KGAT_PAPER), embedding_size=8, n_layers=1,
                       relation_embedding_size=4)
    folder = rendered(with_block_params(spec, "kgat_propagation", attention="epoch"), tmp_path / "model")
    model = build_model(folder, load_config(folder), load_knowledge_split(split_info.path)).train()
    heads, relations = model.ckg_triples[:, 0], model.ckg_triples[:, 1]
    shared = {}
    for h, r in zip(heads.tolist(), relations.tolist(), strict=True):
        shared[(h, r)] = shared.get((h, r), 0) + 1
    expected = torch.tensor([1.0 / shared[(h, r)] for h, r in zip(heads.tolist(), relations.tolist(), strict=True)])
    type(model).current_epoch = property(lambda self: self.epoch)  # Lightning's counter, set by hand here
    model.epoch = 0
    model.on_train_epoch_start()
    torch.testing.assert_close(model.held_attention(), expected)
    model.epoch = 1
    model.on_train_epoch_start()
    held = model.held_attention()
    nodes = model.node_table()
    torch.testing.assert_close(held, model.knowledge_attention(nodes).detach())
    assert not held.requires_grad
    with torch.no_grad():
        model.relation_embedding.weight.add_(0.5)  # a step later: pi held, the forward pass's attention unchanged
    torch.testing.assert_close(model.held_attention(), held)
    assert not torch.allclose(model.fixed_attention(), held)  # evaluation reads the current embeddings' pi
    _, _, notes = reference_with_notes(with_block_params(spec, "kgat_propagation", attention="epoch"))
    assert any(note.startswith("attention: once an epoch, as RecBole's KGAT") for note in notes)


def kgat_with(split_info: SplitInfo, folder: Path, **words: object) -> torch.nn.Module:
    """KGAT of the fixture paper (d = 8, one layer, k = 4 unless words say) with block words, in training mode."""
    values = {"n_layers": words.pop("n_layers", 1)}
    spec = with_values(spec_of(folder / "paper", KGAT_PAPER), embedding_size=8, relation_embedding_size=4, **values)
    model_folder = rendered(with_block_params(spec, "kgat_propagation", **words), folder / "model")
    return build_model(model_folder, load_config(model_folder), load_knowledge_split(split_info.path)).train()


def kgat_batch(n_items: int) -> dict[str, torch.Tensor]:
    return {"users": torch.tensor([0, 1, 2]), "pos_items": torch.tensor([1, 2, 3]),
            "neg_items": torch.tensor([[n_items - 1], [0], [4]])}


def test_kgat_alternates_a_transr_step_with_each_bpr_step_as_the_paper(split_info, tmp_path):
    """kg_schedule: batch (default, the paper's alternating optimisation): before each BPR step one optimiser step
    on kg_weight * the TransR loss of as many randomly drawn CKG triples as the batch has; the BPR step's loss holds
    no TransR term. kg_schedule: sum (the earlier form) adds the term to the BPR step's loss instead."""
    model = kgat_with(split_info, tmp_path / "batch")
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model.optimizers = lambda use_pl_optimizer=True: optimizer  # Lightning's optimiser, by hand here
    tables = [model.relation_embedding.weight, model.relation_projection, model.other_entity_embedding.weight]
    torch.manual_seed(3)
    expected = torch.autograd.grad(model.kg_weight * model.knowledge_loss(3), tables)
    before = [table.detach().clone() for table in tables]
    torch.manual_seed(3)
    model.on_train_batch_start(kgat_batch(split_info.n_items), 0)
    for table, old, grad in zip(tables, before, expected, strict=True):
        torch.testing.assert_close(table.detach(), old - grad)  # SGD, lr 1: one step on the TransR loss alone
    model.eval()
    losses = []
    for weight in (1.0, 0.0):
        model.kg_weight = weight
        torch.manual_seed(5)
        losses.append(model.loss(kgat_batch(split_info.n_items)))
    torch.testing.assert_close(losses[0], losses[1])  # the BPR step's loss: no TransR term
    summed = kgat_with(split_info, tmp_path / "sum", kg_schedule="sum").eval()
    assert "on_train_batch_start" not in vars(type(summed))
    terms = []
    for weight in (1.0, 0.0):
        summed.kg_weight = weight
        torch.manual_seed(5)
        terms.append(summed.loss(kgat_batch(split_info.n_items)))
    torch.manual_seed(5)
    torch.testing.assert_close(terms[0] - terms[1], summed.knowledge_loss(3))


def test_kgat_epoch_schedule_passes_over_every_transr_triple_after_the_epochs_bpr_steps(split_info, tmp_path):
    """kg_schedule: epoch (the authors' code, RecBole's KGATTrainer): after the epoch's last BPR step, every TransR
    triple once, shuffled, in batches of batch_size, one optimiser step each; no step after the other BPR steps."""
    model = kgat_with(split_info, tmp_path / "epoch", kg_schedule="epoch")
    steps = []
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    original_step = optimizer.step
    optimizer.step = lambda: steps.append(1) or original_step()
    model.optimizers = lambda use_pl_optimizer=True: optimizer
    seen = []
    transr_loss = model.transr_loss
    model.transr_loss = lambda *triple: seen.append(torch.stack(triple, 1)) or transr_loss(*triple)
    model._trainer = type("Trainer", (), {"num_training_batches": 3})()  # the epoch's BPR batches
    model.batch_size = 50
    model.on_train_batch_end(None, kgat_batch(split_info.n_items), 1)
    assert not steps
    model.on_train_batch_end(None, kgat_batch(split_info.n_items), 2)
    triples = len(model.ckg_triples)
    assert len(steps) == len(seen) == -(-triples // 50) and all(len(part) <= 50 for part in seen)
    drawn = torch.cat(seen)
    key = lambda rows: sorted(map(tuple, rows.tolist()))  # noqa: E731
    assert key(drawn[:, :3]) == key(model.ckg_triples)  # every CKG triple once
    assert drawn[:, 3].min() >= 0 and drawn[:, 3].max() < model.n_nodes  # corrupted among the nodes
    spec = spec_of(tmp_path / "notes", KGAT_PAPER)
    _, _, notes = reference_with_notes(with_block_params(spec, "kgat_propagation", kg_schedule="epoch"))
    assert any(note.startswith("losses: a whole BPR pass, then a TransR pass") for note in notes)
    _, _, notes = reference_with_notes(spec)
    assert any(note.startswith("losses: the paper optimises the TransR and BPR losses alternately") for note in notes)
    assert any(note.startswith("TransR triples: RecBole's KG pass reads") for note in notes)  # the paper's words
    assert any(note.startswith("graph: RecBole's CKG holds") for note in notes)
    _, _, notes = reference_with_notes(with_block_params(spec, "kgat_propagation", transr_triples="kg",
                                                         ckg_edges="one_way_kg"))
    assert any(note.startswith("TransR triples: the KG's, in their file's direction") for note in notes)
    assert any(note.startswith("graph: RecBole's CKG (ckg_edges: one_way_kg)") for note in notes)


def test_kgat_recboles_graph_words_give_its_edges_and_its_transr_triples(split_info, tmp_path):
    """ckg_edges: one_way_kg (RecBole's CKG, kg_reverse_r False): each interaction both ways under one relation R,
    each KG triple in its file's direction; transr_triples: kg (RecBole's KG pass): the KG's triples alone, the
    corrupted tail among the entities."""
    model = kgat_with(split_info, tmp_path / "model", ckg_edges="one_way_kg", transr_triples="kg")
    split = load_knowledge_split(split_info.path)
    n_users, n_relations = split.n_users, split.n_relations
    interactions = {(u, n_relations, n_users + i) for u, i in split.train.tolist()}
    knowledge = {(n_users + h, r, n_users + t) for h, r, t in split.triples.tolist()}
    ckg = {tuple(row) for row in model.ckg_triples.tolist()}
    assert ckg == interactions | {(t, r, h) for h, r, t in interactions} | knowledge
    assert len(ckg) == len(model.ckg_triples) and model.relation_embedding.num_embeddings == n_relations + 1
    assert {tuple(row) for row in model.transr_triples.tolist()} == knowledge
    seen = []
    model.transr_plausibility = lambda h, r, t: seen.append(t) or torch.zeros(t.shape)
    model.knowledge_loss(400)
    corrupted = seen[0][:, 1]  # each triple's (tail, corrupted tail)
    assert corrupted.min() >= n_users and corrupted.max() < model.n_nodes and corrupted.max() >= split.n_items


def test_kgat_recboles_layer_words_give_recboles_aggregators(split_info, tmp_path):
    """aggregator_bias: learned, negative_slope: 0.01, normalize: l2 (RecBole's Aggregator: nn.Linear with bias,
    nn.LeakyReLU(), and its forward's L2 on the concatenated copy only): two layers equal RecBole's Aggregator
    modules and KGAT.forward's loop with our weights and our attention as its A_in."""
    from recbole.model.knowledge_aware_recommender.kgat import Aggregator

    model = kgat_with(split_info, tmp_path / "model", n_layers=2, aggregator_bias="learned", negative_slope="0.01",
                      normalize="l2").eval()
    with torch.no_grad():
        for layer in [*model.kgat_w1, *model.kgat_w2]:
            layer.bias.normal_()  # RecBole's start at zero, as ours; non-zero here so that they count
        nodes = model.node_table()
        attention = model.knowledge_attention(nodes)
        matrix = torch.sparse_coo_tensor(model.ckg_triples[:, [0, 2]].T, attention, (model.n_nodes,) * 2,
                                         check_invariants=True).coalesce()
        ego, expected = nodes, [nodes]
        for index in range(2):
            aggregator = Aggregator(8, 8, 0.0, "bi").eval()
            aggregator.W1.load_state_dict(model.kgat_w1[index].state_dict())
            aggregator.W2.load_state_dict(model.kgat_w2[index].state_dict())
            ego = aggregator(matrix, ego)
            expected.append(torch.nn.functional.normalize(ego, p=2, dim=1))
        expected = torch.cat(expected, 1)
        users, items = model.propagate(model.user_embedding.weight, model.item_embedding.weight)
        torch.testing.assert_close(users, expected[:model.n_users])
        torch.testing.assert_close(items, expected[model.n_users:model.n_users + model.n_items])
    paper = kgat_with(split_info, tmp_path / "paper", n_layers=2)
    assert sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in paper.parameters()) == 4 * 8
    assert paper.kgat_activation.negative_slope == 0.2
    spec = with_block_params(spec_of(tmp_path / "notes", KGAT_PAPER), "kgat_propagation", aggregator_bias="learned",
                             negative_slope="0.01", normalize="l2")
    _, _, notes = reference_with_notes(spec)
    assert "layers: as RecBole's KGAT (aggregator_bias: learned, negative_slope: 0.01, normalize: l2)" in notes
    assert any(note.startswith("layers: RecBole's KGAT has Xavier over one entity table") for note in notes)


def test_kgat_joint_init_draws_the_entities_as_one_xavier_table(split_info, tmp_path):
    """init: joint (RecBole's): items and other entities at Xavier's std of one [n_entities, d] table, W_r at that
    of [R, d k]; separate (default): Xavier per table."""
    torch.manual_seed(0)
    joint = kgat_with(split_info, tmp_path / "joint", init="joint", n_layers=1)
    torch.manual_seed(0)
    separate = kgat_with(split_info, tmp_path / "separate", n_layers=1)
    relations = joint.relation_projection.shape[0]
    for table, std in ((joint.item_embedding.weight, (2 / (joint.n_entities + 8)) ** 0.5),
                       (joint.other_entity_embedding.weight, (2 / (joint.n_entities + 8)) ** 0.5),
                       (joint.relation_projection, (2 / (relations + 8 * 4)) ** 0.5),
                       (separate.item_embedding.weight, (2 / (split_info.n_items + 8)) ** 0.5)):
        assert abs(table.std().item() / std - 1) < 0.08
    # W_r: torch's fans of [R, d, k] are (d k, R k), RecBole's [R, d k] (d k, R)
    assert joint.relation_projection.std() > 1.15 * separate.relation_projection.std()


def test_ripplenet_propagates_the_users_preferences_over_their_ripple_sets(split_info, tmp_path):
    model = model_of(RIPPLENET_PAPER, split_info, tmp_path, n_hop=2, n_memory=3)
    split = load_knowledge_split(split_info.path)
    facts = {tuple(row) for row in split.triples.tolist()}
    for user in range(split.n_users):  # hop 1 starts from the user's history, hop 2 from hop 1's tails
        history = {int(item) for u, item in split.train.tolist() if u == user}
        heads, relations, tails = (part[user].tolist() for part in
                                   (model.ripple_heads, model.ripple_relations, model.ripple_tails))
        hop1 = list(zip(heads[0], relations[0], tails[0], strict=True))
        if not any(h in history for h, _, _ in facts):
            assert hop1 == [(0, 0, 0)] * 3
            continue
        assert all(triple in facts and triple[0] in history for triple in hop1)
        hop2 = list(zip(heads[1], relations[1], tails[1], strict=True))
        assert all(triple in facts and triple[0] in {t for _, _, t in hop1} for triple in hop2) or hop2 == hop1
    user, item = 2, 4
    with torch.no_grad():
        entities = torch.cat([model.item_embedding.weight, model.other_entity_embedding.weight])
        v = entities[item]
        current, u = v, torch.zeros_like(v)
        for hop in range(2):
            h, t = entities[model.ripple_heads[user, hop]], entities[model.ripple_tails[user, hop]]
            r = model.relation_matrix[model.ripple_relations[user, hop]]
            p = torch.softmax(torch.stack([current @ (r[i] @ h[i]) for i in range(3)]), 0)  # v^T R_i h_i
            o = (p[:, None] * t).sum(0)
            u, current = u + o, o  # the next hop replaces v with o
        torch.testing.assert_close(model.score(torch.tensor([user]), torch.tensor([item])), (u @ v).reshape(1))
        torch.testing.assert_close(model.full_sort_scores(torch.tensor([user]))[0, item], u @ v)
        h, t = entities[model.ripple_heads[user]], entities[model.ripple_tails[user]]
        r = model.relation_matrix[model.ripple_relations[user]]
        expected = -torch.sigmoid(torch.einsum("hmd,hmde,hme->hm", h, r, t)).mean(1).sum()  # h^T R t
        torch.testing.assert_close(model.knowledge_loss(entities, torch.tensor([user])), expected)


def test_ripplenets_code_mode_updates_the_item_by_a_transform_and_scores_against_the_updated_item(split_info,
                                                                                                   tmp_path):
    """item_update: plus_transform (the authors' code's default, RecBole's): v <- W (v + o^h), scored u^T v_H."""
    spec = with_values(spec_of(tmp_path / "paper", RIPPLENET_PAPER), embedding_size=8, n_hop=2, n_memory=3)
    folder = rendered(with_block_params(spec, "ripple_propagation", item_update="plus_transform"), tmp_path / "model")
    model = build_model(folder, load_config(folder), load_knowledge_split(split_info.path)).eval()
    user, item = 5, 7
    with torch.no_grad():
        entities = torch.cat([model.item_embedding.weight, model.other_entity_embedding.weight])
        current, u = entities[item], 0
        for hop in range(2):
            h, t = entities[model.ripple_heads[user, hop]], entities[model.ripple_tails[user, hop]]
            r = model.relation_matrix[model.ripple_relations[user, hop]]
            p = torch.softmax(torch.einsum("d,mde,me->m", current, r, h), 0)
            o = (p[:, None] * t).sum(0)
            u, current = u + o, model.item_transform.weight @ (current + o)
        torch.testing.assert_close(model.score(torch.tensor([user]), torch.tensor([item])),
                                   (u @ current).reshape(1))


@pytest.mark.slow  # ~15 s each on an idle core (48 s measured at a load average of 15)
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", PAPERS[model][0]), embedding_size=16, batch_size=128,
                       learning_rate=0.01)
    folder = passes_the_gates_and_trains(spec, split_info, tmp_path)
    assert json.loads(json.dumps(load_config(folder)["data"]))["regime"] == "knowledge"


def test_a_custom_part_of_a_knowledge_paper_is_written_into_a_topk_slot(split_info, tmp_path):
    """The knowledge models are the top-k model underneath: a part the paper adds goes into the same fill-in slots,
    and the rendered model holds it, trains it and still scores every item."""
    from tests.test_fill_families import EXAMPLES
    from tests.test_fill_families import rendered as rendered_with_fill

    spec = with_values(spec_of(tmp_path / "paper", CKE_PAPER), embedding_size=8)
    gate = {"name": "layer_gate", "description": "a learned gate re-weights each dimension",
            "evidence": "p3: a learned gate re-weights each dimension", "slot": None, "params": {}}
    spec = MethodSpec.model_validate({**spec.model_dump(), "custom": [gate]})
    folder = rendered_with_fill(spec, EXAMPLES["representation"].fill, tmp_path / "model")
    model = build_model(folder, load_config(folder), load_knowledge_split(split_info.path))
    gates = [parameter for name, parameter in model.named_parameters() if name.endswith("gate")]
    assert len(gates) == 1
    model.full_sort_scores(torch.tensor([1, 2])).sum().backward()
    assert gates[0].grad is not None and gates[0].grad.abs().sum() > 0
    assert model.full_sort_scores(torch.tensor([1])).shape == (1, split_info.n_items)


def test_the_pair_products_are_the_gathered_forms_with_their_gradients():
    """HeadTailPairs' two products over the distinct (head, tail) pairs (CSR, built once) equal the per-triple
    gathered forms in value and in every gradient, float64: the neighbourhood sum_(h,r,t) w e_t (sparse @ dense) and
    the scores left[h] . right[t] (sampled dense-dense). A pair repeated under two relations, heads and tails
    without triples, a rectangular pattern; deterministic algorithms on."""
    torch.use_deterministic_algorithms(True, warn_only=False)
    try:
        generator = torch.Generator().manual_seed(0)
        heads = torch.tensor([0, 0, 1, 3, 3, 3, 0, 1])  # no triple from head 2 nor 4
        tails = torch.tensor([1, 2, 0, 4, 4, 1, 1, 5])  # (0, 1) and (3, 4) twice; none to tail 3
        pairs = HeadTailPairs(heads, tails, 5, 6)

        def leaf(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, dtype=torch.float64, generator=generator).requires_grad_()

        weights, table, left, right = leaf(8), leaf(6, 3), leaf(5, 3), leaf(6, 3)
        gathered = torch.zeros(5, 3, dtype=torch.float64).index_add(0, heads, weights[:, None] * table[tails])
        forms = {  # name: (the pairs' form, the gathered form, the leaves)
            "neighbourhood": (pairs.neighbourhood(weights, table), gathered, [weights, table]),
            "dots": (pairs.dots(left, right)[pairs.pair_of_triple], (left[heads] * right[tails]).sum(-1),
                     [left, right]),
        }
        for name, (got, expected, leaves) in forms.items():
            torch.testing.assert_close(got, expected, msg=lambda text, name=name: f"{name}: {text}")
            probe = torch.randn(expected.shape, dtype=torch.float64, generator=generator)
            for mine, theirs in zip(torch.autograd.grad((got * probe).sum(), leaves),
                                    torch.autograd.grad((expected * probe).sum(), leaves), strict=True):
                torch.testing.assert_close(mine, theirs, msg=lambda text, name=name: f"{name}: {text}")
    finally:
        torch.use_deterministic_algorithms(False)


def test_kgats_attention_over_distinct_slots_is_the_per_triple_attention_with_its_gradients(split_info, tmp_path):
    """pi(h, r, t) = softmax over h's triples of (W_r e_t)^T tanh(W_r e_h + e_r), computed once per distinct (h, r)
    and (t, r) and scored as one sampled product, equals the per-triple form (each triple's rows projected, a
    dense masked softmax per head) in value and in the gradients of the nodes, W_r and e_r, float64."""
    model = kgat_with(split_info, tmp_path).double()
    nodes = model.node_table().detach().requires_grad_()
    heads, relations, tails = model.ckg_triples.T
    w_r, e_r = model.relation_projection, model.relation_embedding.weight
    head = torch.einsum("md,mdk->mk", nodes[heads], w_r[relations])
    tail = torch.einsum("md,mdk->mk", nodes[tails], w_r[relations])
    scores = (tail * torch.tanh(head + e_r[relations])).sum(-1)
    mine = heads[None, :] == torch.arange(model.n_nodes)[:, None]  # [nodes, triples]: a head's own triples
    expected = scores.expand(model.n_nodes, -1).masked_fill(~mine, float("-inf")).softmax(1)[heads, range(len(heads))]
    got = model.knowledge_attention(nodes)
    torch.testing.assert_close(got, expected)
    probe = torch.randn(len(heads), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    leaves = [nodes, w_r, e_r]
    for name, mine_grad, theirs in zip(["nodes", "W_r", "e_r"], torch.autograd.grad((got * probe).sum(), leaves),
                                       torch.autograd.grad((expected * probe).sum(), leaves), strict=True):
        torch.testing.assert_close(mine_grad, theirs, msg=lambda text, name=name: f"{name}: {text}")


def test_kgats_last_layer_over_the_users_and_items_alone_is_the_full_propagation_with_its_gradients(split_info,
                                                                                                    tmp_path):
    """The last layer is computed only at the users' and items' nodes (the only rows the final representations
    read): the users' and items' representations equal those of every layer over every node by per-triple gather
    and scatter, in value and in the gradients of the tables and aggregators, float64 (two layers, no dropout)."""
    model = kgat_with(split_info, tmp_path, n_layers=2).double().eval()
    heads, _, tails = model.ckg_triples.T
    leaky = model.kgat_activation
    users, items = model.user_embedding.weight, model.item_embedding.weight
    layer = model.node_table()
    attention = model.knowledge_attention(layer)
    layers = [layer]
    for w1, w2 in zip(model.kgat_w1, model.kgat_w2, strict=True):
        around = torch.zeros_like(layer).index_add(0, heads, attention[:, None] * layer[tails])
        layer = leaky(w1(layer + around)) + leaky(w2(layer * around))
        layers.append(layer)
    final = torch.cat(layers, 1)
    expected = final[:model.n_users], final[model.n_users:model.n_users + model.n_items]
    got = model.propagate(users, items)
    leaves = [users, items, model.other_entity_embedding.weight, model.relation_projection,
              model.kgat_w1[1].weight, model.kgat_w2[0].weight]
    generator = torch.Generator().manual_seed(0)
    probes = [torch.randn(part.shape, dtype=torch.float64, generator=generator) for part in expected]
    for part, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(part, theirs)
    for mine, theirs in zip(torch.autograd.grad(sum((p * q).sum() for p, q in zip(got, probes, strict=True)), leaves),
                            torch.autograd.grad(sum((p * q).sum() for p, q in zip(expected, probes, strict=True)),
                                                leaves), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_kgats_transr_loss_projects_each_triple_once_for_its_tail_and_corrupted_tail(split_info, tmp_path):
    """TransR's term -ln sigma(g(h, r, t') - g(h, r, t)) with the true and corrupted tails projected in one batched
    product equals it with g(h, r, t) = ||W_r e_h + e_r - W_r e_t||^2 computed per tail, in value and gradients,
    float64."""
    model = kgat_with(split_info, tmp_path).double()
    torch.manual_seed(0)
    heads, relations, tails, corrupted = corrupted_triples(model.transr_triples, 40, model.n_nodes)
    nodes = model.node_table()
    w_r, e_r = model.relation_projection, model.relation_embedding.weight

    def plausibility(ends: torch.Tensor) -> torch.Tensor:
        head = torch.einsum("md,mdk->mk", nodes[heads], w_r[relations])
        return (head + e_r[relations] - torch.einsum("md,mdk->mk", nodes[ends], w_r[relations])).pow(2).sum(-1)

    expected = -torch.nn.functional.logsigmoid(plausibility(corrupted) - plausibility(tails)).mean()
    got = model.transr_loss(heads, relations, tails, corrupted)
    torch.testing.assert_close(got, expected)
    leaves = [model.user_embedding.weight, model.item_embedding.weight, model.other_entity_embedding.weight, w_r, e_r]
    for mine, theirs in zip(torch.autograd.grad(got, leaves), torch.autograd.grad(expected, leaves), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_the_segment_product_is_each_segments_matrix_product_with_its_gradients():
    """segment_matmul (W_r of each relation applied to its slots' rows, written into one output) equals the
    concatenated per-segment products in value and in the gradients of the rows and the matrices, float64, also
    for transposed matrices and a matrix used by two segments."""
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(9, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    matrices = torch.randn(3, 4, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    segments = [(2, 0, 3), (0, 3, 4), (2, 4, 9)]
    for used in (matrices, matrices.transpose(1, 2)):
        got = segment_matmul(rows, used, segments)
        expected = torch.cat([rows[start:end] @ used[index] for index, start, end in segments])
        torch.testing.assert_close(got, expected)
        probe = torch.randn(expected.shape, dtype=torch.float64, generator=generator)
        for mine, theirs in zip(torch.autograd.grad((got * probe).sum(), [rows, matrices]),
                                torch.autograd.grad((expected * probe).sum(), [rows, matrices]), strict=True):
            torch.testing.assert_close(mine, theirs)
