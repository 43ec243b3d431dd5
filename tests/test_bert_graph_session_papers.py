"""Sequential models with their own training machinery, read from fixture papers that describe them in prose:
BERT4Rec (a bidirectional Transformer trained by the cloze task) and SR-GNN (a gated graph network over the session
graph, attention readout). Each paper is read into its blocks, comes out `faithful` with RecBole's class as the
reference, renders, passes validate's gates and trains; the models equal the papers' equations on tiny inputs (and
BERT4Rec's encoder is bidirectional: a later item changes an earlier position's output); a causal self-attention
paper is not read as BERT4Rec, a recurrent session paper not as SR-GNN. None of the fixture papers is a real paper."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from paper_autotrain.data.sequential import load_sequences
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.cloze import append_item, batch_generator, mask_items
from paper_autotrain.runtime.session_graph import GatedGraphCell, session_graph
from paper_autotrain.stages import baselines, validate
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import train as train_in_process
from tests.fixture_papers import rendered, spec_of, with_block_params, with_values
from tests.recbole_stub import RecBoleStub, assert_same_loss_and_gradients, right_padded_batch

BERT4REC_PAPER = [
    ["BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations from Transformer",
     "Abstract. Modeling users' dynamic preferences from their historical behaviors is challenging. Previous "
     "methods encode a user's sequence from left to right with a unidirectional model, which restricts the power "
     "of the hidden representations. We propose BERT4Rec, which employs a deep bidirectional self-attention to "
     "model user behavior sequences.",
     "1 INTRODUCTION",
     "In a unidirectional architecture each item can only encode the information from the items before it. To "
     "avoid information leakage and train the bidirectional model efficiently, we adopt the Cloze objective."],
    ["3 BERT4REC",
     "3.1 Model Architecture",
     "BERT4Rec is a stack of L bidirectional Transformer layers. At each layer it revises the representation of "
     "every position by exchanging information across all positions with the Transformer layer, in parallel. "
     "Instead of passing information step by step from left to right, the self-attention lets every item attend "
     "to the items from both sides.",
     "3.2 Transformer Layer",
     "Each Transformer layer contains two sub-layers, a multi-head self-attention sub-layer and a position-wise "
     "feed-forward network. We employ a residual connection around each of the two sub-layers, followed by layer "
     "normalization, LN(x + Dropout(sublayer(x))). The feed-forward network is FFN(x) = GELU(x W1 + b1) W2 + b2 "
     "with the Gaussian Error Linear Unit activation.",
     "3.3 Embedding Layer",
     "Without any recurrence, the Transformer layer is not aware of the order of the input sequence, so we inject "
     "learnable positional embeddings: the input representation of item v_i at position i is the sum of its item "
     "embedding and its positional embedding.",
     "3.4 Output Layer",
     "After L layers we predict the masked item v_t from its final hidden state h_t with a two-layer feed-forward "
     "network with GELU activation in between, P(v) = softmax(GELU(h_t W_P + b_P) E^T + b_O), where E is the "
     "shared item embedding matrix and b_O is the output bias of each item.",
     "3.5 Model Learning",
     "Training. We apply the Cloze task to sequential recommendation: at each training step we randomly mask a "
     "proportion rho of all items in the input sequence, replacing them with the special token [mask], and "
     "predict the original ids of the masked items based only on their left and right context. The loss for "
     "each masked input sequence is the negative log-likelihood of the masked targets.",
     "Test. At test time we append the special token [mask] to the end of the user's behavior sequence and "
     "predict the next item from its final hidden representation. To better match this task, we also produce "
     "samples that only mask the last item in the input sequences during training."],
    ["4 EXPERIMENTS",
     "We evaluate on MovieLens and report HR@10 and NDCG@10 with the leave-one-out protocol, against GRU4Rec and "
     "SASRec. Table 2 reports the results.",
     "Settings. The embedding size is set to 64, we stack two layers with two heads, the dropout ratio is set to "
     "0.1 and the mask proportion rho is set to 0.4. The maximum sequence length is 50."],
]

# A causal self-attention paper (SASRec-like): attention only to earlier items, no cloze task
CAUSAL_PAPER = [
    ["Self-Attentive Next-Item Recommendation",
     "Abstract. We propose CAttRec, a self-attention based sequential model that predicts the next item from the "
     "items a user consumed before.",
     "1 INTRODUCTION",
     "Self-attention models long sequences in parallel. Unlike BERT4Rec, whose bidirectional encoder reads the "
     "items on both sides, our model is causal."],
    ["3 METHOD",
     "3.1 Embedding Layer",
     "We add learnable positional embeddings to the item embeddings of the input sequence.",
     "3.2 Self-Attention Blocks",
     "We stack self-attention blocks, each a self-attention layer and a point-wise feed-forward network with a "
     "residual connection around each. To respect causality, the attention of position t only reads positions up "
     "to t: we forbid all links between the query at t and keys after t.",
     "3.3 Prediction",
     "The relevance of an item is the dot product of its embedding with the self-attention output at the last "
     "position, and we train with the softmax cross-entropy over all items."],
    ["4 EXPERIMENTS",
     "We evaluate on MovieLens with NDCG@10 against GRU4Rec. The embedding size is set to 64 and the maximum "
     "sequence length is 50. The self-attention layers use two heads."],
]

SRGNN_PAPER = [
    ["Session-based Recommendation with Graph Neural Networks",
     "Abstract. Session-based recommendation predicts a user's next click from an anonymous session. Previous "
     "methods model a session as a sequence and ignore complex transitions of items. We propose SR-GNN, which "
     "models session sequences as graph structured data.",
     "1 Introduction",
     "Recurrent models such as GRU4Rec estimate a user representation from the sequence alone. In SR-GNN every "
     "session sequence is modeled as a session graph, and a graph neural network captures the transitions."],
    ["3 The Proposed Method",
     "3.1 Constructing Session Graphs",
     "Each session sequence s is modeled as a directed graph G_s whose nodes are the distinct items of the session "
     "and where each edge (v_i, v_{i+1}) means that the user clicked item v_{i+1} after v_i. Each edge is assigned "
     "a normalized weight, the occurrence of the edge divided by the outdegree of its start node, which gives the "
     "outgoing connection matrix; the incoming matrix is normalized by the indegree in the same way.",
     "3.2 Learning Item Embeddings on Session Graphs",
     "We use gated graph neural networks to obtain the latent vectors of the nodes. For node v_i the messages "
     "a_i = A_s,i [v_1, ..., v_n] H + b come from its incoming and outgoing neighbours, and the node is updated "
     "with gates as in gated recurrent units: z_i = sigma(W_z a_i + U_z v_i), r_i = sigma(W_r a_i + U_r v_i), "
     "the candidate state is tanh(W_o a_i + U_o (r_i * v_i)) and the final state is "
     "(1 - z_i) * v_i + z_i * candidate.",
     "3.3 Generating Session Embeddings",
     "The local embedding s_l of a session is the vector of its last clicked item. For the global embedding we "
     "use a soft-attention mechanism: s_g = sum_i alpha_i v_i with alpha_i = q^T sigma(W_1 v_n + W_2 v_i + c). "
     "The hybrid embedding is a linear transformation of the concatenation of the local and global embeddings, "
     "s_h = W_3 [s_l; s_g].",
     "3.4 Making Recommendation",
     "The score of every candidate item is the inner product of its embedding with the session embedding, and a "
     "softmax over all items gives the output probabilities. The loss function is the cross-entropy of the "
     "prediction and the ground truth, which we train with back-propagation through time."],
    ["4 Experiments",
     "We evaluate on Yoochoose and Diginetica with P@20 and MRR@20 against GRU4Rec and NARM. Table 2 reports the "
     "results. The embedding size is set to 100, the batch size is 100, the learning rate is set to 0.001 and the "
     "L2 penalty is set to 0.00001."],
]

GCSAN_PAPER = [
    ["Graph Contextualized Self-Attention Network for Session-based Recommendation",
     "Abstract. Session-based recommendation predicts the next click of an anonymous user. We propose GC-SAN, a "
     "graph contextualized self-attention model, which uses both graph neural network and self-attention "
     "mechanism for session-based recommendation.",
     "1 Introduction",
     "Recurrent models capture only sequential transitions; SR-GNN models sessions as graphs. In GC-SAN the graph "
     "neural network captures local dependencies and the self-attention captures long-range ones."],
    ["3 The Proposed Model",
     "3.1 Dynamic Graph Structure",
     "Each session sequence is modeled as a session graph whose nodes are the distinct items and whose edges link "
     "consecutive clicks. The incoming and outgoing connection matrices are normalized by the indegree and the "
     "outdegree of the nodes.",
     "3.2 Node Vector Updating",
     "We feed the item embeddings to a gated graph neural network: the messages of the incoming and outgoing "
     "neighbours update every node with gates as in gated recurrent units, for a few steps, which gives the "
     "latent vectors H = [h_1, ..., h_n].",
     "3.3 Self-Attention Layers",
     "The latent vectors of the graph neural network are fed into self-attention layers: "
     "F = softmax((H W_Q)(H W_K)^T / sqrt(d))(H W_V). We then apply a point-wise feed-forward network with a "
     "residual connection, E = ReLU(F W_1 + b_1) W_2 + b_2 + F, and stack k such self-attention blocks.",
     "3.4 Prediction Layer",
     "The final session representation is a weighted sum of the last clicked item's self-attention output and "
     "its graph vector, S_f = omega E_n + (1 - omega) h_n, where the weight factor omega balances the two. Every "
     "item is scored by the inner product of its embedding with S_f, followed by a softmax over all items, and "
     "we train with the cross-entropy of the prediction and the ground truth."],
    ["4 Experiments",
     "We evaluate on Diginetica and Retailrocket with P@10 and MRR@10 against GRU4Rec, NARM and SR-GNN. Table 2 "
     "reports the results. The embedding size is set to 120, the number of heads is set to 1 and the number of "
     "self-attention blocks is set to 1."],
]

BERT4REC_BLOCKS = ["item_embedding", "bidirectional_encoder", "item_bias_score"]
SRGNN_BLOCKS = ["item_embedding", "session_graph_encoder", "session_attention_readout", "item_dot_score"]
GCSAN_BLOCKS = ["item_embedding", "session_graph_encoder", "graph_self_attention", "item_dot_score"]
# the fixture papers scripts/session_parity.py runs end to end, by model
PAPERS = {"BERT4Rec": (BERT4REC_PAPER, BERT4REC_BLOCKS), "SRGNN": (SRGNN_PAPER, SRGNN_BLOCKS),
          "GCSAN": (GCSAN_PAPER, GCSAN_BLOCKS)}


@pytest.fixture(scope="module")
def bert4rec_spec(tmp_path_factory: pytest.TempPathFactory):
    return spec_of(tmp_path_factory.mktemp("bert4rec"), BERT4REC_PAPER)


@pytest.fixture(scope="module")
def bert4rec_model(bert4rec_spec, sequences, tmp_path_factory: pytest.TempPathFactory):
    spec = with_values(bert4rec_spec, embedding_size=16, batch_size=64, dropout=0.0)
    folder = rendered(spec, tmp_path_factory.mktemp("bert4rec_model"))
    return folder, build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()


def test_bert4rec_is_read_into_its_blocks_faithful_with_recboles_class(bert4rec_spec):
    spec = bert4rec_spec
    assert (spec.family, spec.task, spec.loss, spec.model_name) == ("sequential", "topk", "ce", "BERT4Rec")
    assert [block.block for block in spec.architecture] == BERT4REC_BLOCKS
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    for part in ("bidirectional self-attention (Transformer) encoder, no causal mask",
                 "cloze task (masked item prediction) training", "learned positional embeddings",
                 "self-attention over the item sequence"):
        assert built[part] == "bidirectional_encoder", part
    assert built["item bias in the output layer"] == "item_bias_score"
    assert composition_class("sequential", BERT4REC_BLOCKS, "ce") == "BERT4Rec"
    assert spec.hp("mask_ratio") == 0.4 and spec.hp("dropout") == 0.1 and spec.hp("embedding_size") == 64


def test_bert4rec_reference_maps_the_cloze_settings_and_notes_recboles_differences(bert4rec_spec):
    name, overrides, notes = baselines.reference_with_notes(bert4rec_spec)
    assert name == "BERT4Rec"
    assert overrides["mask_ratio"] == 0.4 and overrides["hidden_size"] == 64 and overrides["n_heads"] == 2
    assert overrides["hidden_dropout_prob"] == overrides["attn_dropout_prob"] == 0.1
    assert overrides["loss_type"] == "CE"
    assert any("LayerNorm" in note for note in notes) and any("oldest item" in note for note in notes)
    for word in ("append_target", "last_item_batches", "loss_positions_cap", "first_position_loss",
                 "unmasked_fallback", "inference_window", "output_norm"):  # each names the word giving RecBole's
        assert any(word in note for note in notes), word


def test_a_causal_self_attention_paper_is_not_read_as_bert4rec(tmp_path):
    spec = spec_of(tmp_path, CAUSAL_PAPER)
    blocks = [block.block for block in spec.architecture]
    assert "bidirectional_encoder" not in blocks and "self_attention_encoder" in blocks
    assert spec.reference != "BERT4Rec"
    built = {component.name for component in spec.fidelity.components}
    assert "cloze task (masked item prediction) training" not in built


def test_the_encoder_is_bidirectional_a_later_item_changes_an_earlier_output(bert4rec_model):
    _, model = bert4rec_model
    tokens = torch.tensor([[3, 7, 2, 9, 5]])
    changed = tokens.clone()
    changed[0, 4] = 11  # only the last item differs
    with torch.no_grad():
        before, after = model.encode_tokens(tokens), model.encode_tokens(changed)
    assert not torch.allclose(before[0, 0], after[0, 0], atol=1e-6)  # position 0 reads position 4


def test_the_encoder_and_output_equal_the_papers_equations_on_a_tiny_input(bert4rec_model):
    """Eval mode (no dropout): h0 = LN(v + p); per layer LN(x + MH(x)) then LN(x + GELU(x W1 + b1) W2 + b2) with
    every position attending to every real one; the score is GELU(h W_P + b_P) E^T + b_O; [mask] is appended."""
    _, model = bert4rec_model
    histories, lengths = torch.tensor([[4, 8, 1, 0, 0], [2, 6, 9, 3, 7]]), torch.tensor([3, 5])
    with torch.no_grad():
        model.item_bias.normal_()
        scores = model.full_sort_scores(histories, lengths, torch.arange(2))
        for row, (history, length) in enumerate(zip(histories, lengths, strict=True)):
            items = history[:length].tolist()
            tokens = (items + [model.mask_id])[-model.max_seq_length:]  # a full history drops its oldest item
            expected = paper_scores(model, tokens)
            torch.testing.assert_close(scores[row], expected, rtol=1e-4, atol=1e-5)


def paper_scores(model: torch.nn.Module, tokens: list[int]) -> torch.Tensor:
    """The paper's equations written out for one unpadded sequence, read at its last position ([mask])."""
    ids = torch.tensor(tokens)
    embedded = torch.stack([model.mask_embedding if t == model.mask_id else model.item_embedding.weight[t]
                            for t in tokens])
    x = model.input_norm(embedded + model.position_embedding.weight[: len(tokens)])
    for layer in model.bidirectional.layers:
        attention = layer.self_attn(x[None], x[None], x[None], need_weights=False)[0][0]  # no mask at all
        x = layer.norm1(x + attention)
        x = layer.norm2(x + layer.linear2(torch.nn.functional.gelu(layer.linear1(x))))
    h = torch.nn.functional.gelu(model.output_projection(x[len(ids) - 1]))
    return h @ model.item_embedding.weight[: model.n_items + 1].T + model.item_bias


def test_cloze_masks_hide_items_behind_the_mask_token_and_label_them():
    histories, lengths = torch.tensor([[5, 6, 7, 0], [1, 2, 3, 4]]), torch.tensor([3, 4])
    sequences, new_lengths = append_item(histories, lengths, torch.tensor([8, 9]))
    assert sequences.tolist() == [[5, 6, 7, 8], [2, 3, 4, 9]] and new_lengths.tolist() == [4, 4]
    generator = torch.Generator().manual_seed(0)
    tokens, labels = mask_items(sequences, new_lengths, 0.5, 99, 0.0, generator)
    hidden = labels > 0
    assert hidden.any(dim=1).all()  # every sequence restores at least one item
    assert (tokens[hidden] == 99).all() and torch.equal(labels[hidden], sequences[hidden])
    assert torch.equal(tokens[~hidden], sequences[~hidden])
    last_only, last_labels = mask_items(sequences, new_lengths, 0.5, 99, 1.0, generator)
    assert last_only[:, :3].tolist() == sequences[:, :3].tolist() and last_only[:, 3].tolist() == [99, 99]
    assert last_labels[:, 3].tolist() == [8, 9]


def test_recboles_masking_options_label_the_positions_its_mask_item_sequence_does(monkeypatch):
    """loss_cap and first_position_loss=False against RecBole's MaskItemSequence fed the same mask draws."""
    transform = pytest.importorskip("recbole.data.transform")
    from recbole.data.interaction import Interaction
    n_items, width, ratio = 30, 10, 0.6  # RecBole keeps int(0.6 x 10) = 6 labelled positions a sequence
    generator = torch.Generator().manual_seed(3)
    lengths = torch.randint(1, width + 1, (64,), generator=generator)
    sequences = torch.randint(1, n_items, (64, width), generator=generator)
    sequences *= torch.arange(width)[None, :] < lengths[:, None]
    tokens, labels = mask_items(sequences, lengths, ratio, n_items, 0.0, generator, loss_cap=int(ratio * width),
                                first_position_loss=False, fallback_last=False)
    masked = tokens == n_items
    draws = iter([1.0] + [0.0 if masked[row, i] else 0.99 for row in range(64) for i in range(int(lengths[row]))])
    monkeypatch.setattr(transform.random, "random", lambda: next(draws))  # its ft draw, then one per item
    config = {"ITEM_ID_FIELD": "item_id", "LIST_SUFFIX": "_list", "MAX_ITEM_LIST_LENGTH": width,
              "mask_ratio": ratio, "ITEM_LIST_LENGTH_FIELD": "item_length"}
    theirs = transform.MaskItemSequence(config)(SimpleNamespace(num=lambda field: n_items),
                                                Interaction({"item_id_list": sequences, "item_length": lengths}))
    assert torch.equal(theirs["Mask_item_id_list"], tokens)
    index, items = theirs["MASK_INDEX"], theirs["Pos_item_id"]
    expected = torch.zeros_like(labels).scatter(1, index, items)
    expected[:, 0] = 0  # index 0 is its padding (and a masked first item's slot): no loss there
    assert torch.equal(labels, expected)
    assert (masked.sum(1) > 6).any() and masked[:, 0].any() and (labels[:, 0] == 0).all()  # both rules bind


def test_the_masking_options_default_to_the_paper_form_and_each_changes_only_its_rule():
    generator = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 9, (200,), generator=generator)
    sequences = torch.randint(1, 50, (200, 8), generator=generator) * (torch.arange(8)[None, :] < lengths[:, None])
    draw = lambda **options: mask_items(sequences, lengths, 0.4, 99, 0.5, torch.Generator().manual_seed(7),  # noqa: E731
                                        **options)
    tokens, labels = draw()
    masked = tokens == 99
    assert torch.equal(labels > 0, masked)  # the paper's form: every masked position gives loss
    capped = draw(loss_cap=2)[1] > 0
    assert torch.equal(draw(loss_cap=2)[0], tokens) and (capped.sum(1) == masked.sum(1).clamp(max=2)).all()
    assert (capped <= masked).all()
    assert torch.equal(draw(first_position_loss=False)[1] > 0, masked & (torch.arange(8) > 0))
    no_fallback = draw(fallback_last=False)[0] == 99
    assert (no_fallback <= masked).all() and (~no_fallback.any(1)).any() and masked.any(1).all()
    last = torch.zeros_like(masked).scatter(1, (lengths - 1)[:, None], True)
    kinds = set()
    for seed in range(8):  # one draw decides for the whole batch: every row last-only, or none
        by_batch = mask_items(sequences, lengths, 0.4, 99, 0.5, torch.Generator().manual_seed(seed),
                              last_by_batch=True)[0] == 99
        none = mask_items(sequences, lengths, 0.4, 99, 0.0, torch.Generator().manual_seed(seed))[0] == 99
        kinds.add("last" if torch.equal(by_batch, last) else "none" if torch.equal(by_batch, none) else "mixed")
    assert kinds == {"last", "none"}


def test_the_cloze_loss_is_the_masked_items_cross_entropy(bert4rec_model):
    _, model = bert4rec_model
    batch = {"histories": torch.tensor([[4, 8, 1, 0, 0], [2, 6, 9, 3, 7]]), "lengths": torch.tensor([3, 5]),
             "targets": torch.tensor([6, 5]), "users": torch.arange(2)}
    with torch.no_grad():
        loss = model.loss(batch)
        assert torch.equal(loss, model.loss(batch))  # the same batch draws the same masks
        sequences, lengths = append_item(batch["histories"], batch["lengths"], batch["targets"])
        tokens, labels = mask_items(sequences, lengths, model.mask_ratio, model.mask_id, model.last_item_share,
                                    batch_generator(sequences))
        terms = [-torch.log_softmax(paper_scores_at(model, tokens[row, : lengths[row]].tolist(), position), 0)[item]
                 for row in range(2) for position, item in enumerate(labels[row].tolist()) if item > 0]
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-4, atol=1e-5)


def test_recboles_words_mask_the_history_alone_with_its_label_rules(bert4rec_model, sequences):
    folder, paper_form = bert4rec_model
    config = load_config(folder)
    config["model"].update(append_target=False, last_item_batches=True, unmasked_fallback=False,
                           loss_positions_cap=2, first_position_loss=False)
    model = build_model(folder, config, load_sequences(sequences.path)).eval()
    model.load_state_dict(paper_form.state_dict())
    batch = {"histories": torch.tensor([[4, 8, 1, 5, 0], [2, 6, 9, 3, 7]]), "lengths": torch.tensor([4, 5]),
             "targets": torch.tensor([6, 5]), "users": torch.arange(2)}
    options = {"last_by_batch": True, "fallback_last": False, "loss_cap": 2, "first_position_loss": False}
    with torch.no_grad():
        tokens, labels = mask_items(batch["histories"], batch["lengths"], 0.9, model.mask_id, 0.0,
                                    batch_generator(batch["histories"]), **options)
        model.mask_ratio, model.last_item_share = 0.9, 0.0  # most items masked: the cap and position 0 bind
        terms = [-torch.log_softmax(paper_scores_at(model, tokens[row, : batch["lengths"][row]].tolist(), at), 0)[item]
                 for row in range(2) for at, item in enumerate(labels[row].tolist()) if item > 0]
        assert len(terms) == 4  # two a row: the cap binds
        torch.testing.assert_close(model.loss(batch), torch.stack(terms).mean(), rtol=1e-4, atol=1e-5)


def recboles_bert4rec_in_our_layout(model, theirs, of=lambda tensor: tensor):
    """(our parameter, `of` RecBole's BERT4Rec's matching tensor in our layout) for every parameter: its [mask] is
    the item table's last row, its query, key and value one in-projection of ours."""
    yield model.item_embedding.weight, of(theirs.item_embedding.weight)[:-1]
    yield model.mask_embedding, of(theirs.item_embedding.weight)[-1]
    yield model.position_embedding.weight, of(theirs.position_embedding.weight)
    yield model.item_bias, of(theirs.output_bias)
    pairs = [(model.input_norm, theirs.LayerNorm), (model.output_projection, theirs.output_ffn),
             (model.output_norm, theirs.output_ln)]
    for layer, their_layer in zip(model.bidirectional.layers, theirs.trm_encoder.layer, strict=True):
        heads, their_ffn = their_layer.multi_head_attention, their_layer.feed_forward
        projections = [getattr(heads, name) for name in ("query", "key", "value")]
        yield layer.self_attn.in_proj_weight, torch.cat([of(projection.weight) for projection in projections])
        yield layer.self_attn.in_proj_bias, torch.cat([of(projection.bias) for projection in projections])
        pairs += [(layer.self_attn.out_proj, heads.dense), (layer.norm1, heads.LayerNorm), (layer.linear1,
                  their_ffn.dense_1), (layer.linear2, their_ffn.dense_2), (layer.norm2, their_ffn.LayerNorm)]
    for mine, their in pairs:
        yield from ((mine.weight, of(their.weight)), (mine.bias, of(their.bias)))


def test_bert4rec_with_recboles_seven_words_is_recboles_bert4rec_module_with_the_same_weights(bert4rec_model,
                                                                                              sequences):
    """With RecBole's inference window and output LayerNorm (and its five masking words), RecBole's weights copied
    in: our full ranking equals RecBole's BERT4Rec's full_sort_predict on right-padded histories (a full one, a
    one-item one), and our cloze loss and every gradient its calculate_loss given the same masks. The paper's form
    with the same weights ranks differently, and so does each of the two words alone."""
    from recbole.model.sequential_recommender.bert4rec import BERT4Rec

    folder, _ = bert4rec_model
    split, config = load_sequences(sequences.path), load_config(folder)
    words = {"inference_window": "drop_oldest", "output_norm": "layer_norm"}
    config["model"].update(append_target=False, last_item_batches=True, unmasked_fallback=False,
                           loss_positions_cap=2, first_position_loss=False, **words)
    model = build_model(folder, config, split).train()  # dropout 0: train mode is deterministic
    layers, width = model.bidirectional.layers, model.max_seq_length
    stub = RecBoleStub(split.n_items, width, n_layers=len(layers), n_heads=layers[0].self_attn.num_heads,
                       hidden_size=model.position_embedding.embedding_dim, inner_size=layers[0].linear1.out_features,
                       hidden_dropout_prob=0.0, attn_dropout_prob=0.0, hidden_act="gelu", layer_norm_eps=1e-12,
                       mask_ratio=model.mask_ratio, MASK_ITEM_SEQ="Mask_item_id_list", POS_ITEMS="Pos_item_id",
                       NEG_ITEMS="Neg_item_id", MASK_INDEX="MASK_INDEX", initializer_range=0.02)
    theirs = BERT4Rec(stub.config, stub).train()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in theirs.parameters())
    torch.manual_seed(0)
    with torch.no_grad():
        for their in theirs.parameters():  # away from 1 and 0, so every LayerNorm and bias is read
            their.add_(0.3 * torch.randn_like(their))
        for mine, their in recboles_bert4rec_in_our_layout(model, theirs):
            mine.copy_(their)
    lengths = torch.tensor([width, 1, 3, width - 1])
    histories = torch.randint(1, split.n_items + 1, (4, width)) * (torch.arange(width) < lengths[:, None])
    users, batch, interaction = right_padded_batch(stub, histories, lengths, torch.tensor([5, 3, 9, 2]))
    with torch.no_grad():
        ours = model.full_sort_scores(histories, lengths, users)
        torch.testing.assert_close(ours, theirs.full_sort_predict(interaction), rtol=1e-5, atol=1e-5)
        paper = {"inference_window": "append", "output_norm": "none"}
        for differs in ({}, {"inference_window": "drop_oldest"}, {"output_norm": "layer_norm"}):
            other = build_model(folder, {**config, "model": {**config["model"], **paper, **differs}}, split)
            other.load_state_dict(model.state_dict(), strict=False)  # all but the LayerNorm the paper's form lacks
            assert not torch.allclose(other.eval().full_sort_scores(histories, lengths, users), ours, atol=1e-3)
    tokens, labels = mask_items(histories, lengths, model.mask_ratio, model.mask_id, model.last_item_share,
                                batch_generator(histories), **model.mask_options)  # the draws model.loss makes
    index = torch.stack([torch.nn.functional.pad(row.nonzero()[:, 0], (0, 2 - int((row > 0).sum())))
                         for row in labels])  # RecBole's MASK_INDEX: the labelled positions, 0 padding, at most 2
    labelled = labels.gather(1, index)  # (its negatives are read by its BPR loss only)
    interaction.update(type(interaction)({"Mask_item_id_list": tokens, "MASK_INDEX": index,
                                          "Pos_item_id": labelled, "Neg_item_id": labelled}))
    assert_same_loss_and_gradients(model.loss(batch), theirs.calculate_loss(interaction),
                                   partial(recboles_bert4rec_in_our_layout, model, theirs), rtol=1e-4, atol=1e-6)
    assert float(model.output_norm.weight.grad.abs().sum()) > 0.0


def paper_scores_at(model: torch.nn.Module, tokens: list[int], position: int) -> torch.Tensor:
    """paper_scores read at `position` instead of the last one."""
    embedded = torch.stack([model.mask_embedding if t == model.mask_id else model.item_embedding.weight[t]
                            for t in tokens])
    x = model.input_norm(embedded + model.position_embedding.weight[: len(tokens)])
    for layer in model.bidirectional.layers:
        x = layer.norm1(x + layer.self_attn(x[None], x[None], x[None], need_weights=False)[0][0])
        x = layer.norm2(x + layer.linear2(torch.nn.functional.gelu(layer.linear1(x))))
    h = torch.nn.functional.gelu(model.output_projection(x[position]))
    return h @ model.item_embedding.weight[: model.n_items + 1].T + model.item_bias


@pytest.mark.slow  # ~40 s: the gates' sandboxed probe and two epochs
def test_bert4rec_from_the_paper_passes_the_gates_and_trains(bert4rec_model, sequences, tmp_path):
    folder, _ = bert4rec_model
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    result = train_in_process(folder, Path(sequences.path), tmp_path / "out",
                              ["trainer.max_epochs=2", "trainer.csv_logger=false"])
    assert result.status == "ok" and result.epochs_run == 2
    assert 0.0 <= result.test["ndcg@10"] <= 1.0


# --- SR-GNN ---------------------------------------------------------------------------------------------------

# A recurrent session model (GRU4Rec-like): no session graph, no attention readout
GRU_SESSION_PAPER = [
    ["Recurrent Networks for Session Clicks",
     "Abstract. We propose SessRNN, which models the clicks of a session with a recurrent network.",
     "1 Introduction",
     "Sessions are short; item-to-item methods only use the last click."],
    ["3 Method",
     "We feed the item embeddings of the session's clicks to gated recurrent units (GRU) and score every item by "
     "the inner product of its embedding with the last hidden state of the GRU. We train with the softmax "
     "cross-entropy over all items."],
    ["4 Experiments",
     "We evaluate on Yoochoose with Recall@20 against Pop and Item-KNN. The embedding size is set to 100."],
]


@pytest.fixture(scope="module")
def srgnn_spec(tmp_path_factory: pytest.TempPathFactory):
    return spec_of(tmp_path_factory.mktemp("srgnn"), SRGNN_PAPER)


@pytest.fixture(scope="module")
def srgnn_model(srgnn_spec, sequences, tmp_path_factory: pytest.TempPathFactory):
    spec = with_values(srgnn_spec, embedding_size=8, batch_size=64)
    folder = rendered(spec, tmp_path_factory.mktemp("srgnn_model"))
    return folder, build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()


def test_srgnn_is_read_into_its_blocks_faithful_with_recboles_class(srgnn_spec):
    spec = srgnn_spec
    assert (spec.family, spec.task, spec.loss, spec.model_name) == ("sequential", "topk", "ce", "SR-GNN")
    assert [block.block for block in spec.architecture] == SRGNN_BLOCKS
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["session graph with a gated graph network"] == "session_graph_encoder"
    assert built["gated recurrent unit over the sequence"] == "session_graph_encoder"
    assert built["soft-attention session readout (the last item's local embedding, an attention-weighted global "
                 "one)"] == "session_attention_readout"
    assert spec.reference == "SRGNN" and spec.hp("embedding_size") == 100 and spec.hp("l2_reg") == 1e-5
    name, overrides, notes = baselines.reference_with_notes(spec)
    assert name == "SRGNN" and overrides["embedding_size"] == 100 and overrides["step"] == 1
    assert any("occurrences" in note for note in notes) and any("candidate state" in note for note in notes)


def test_recboles_session_graph_options_keep_recboles_config_and_say_the_run_took_its_form(srgnn_spec, gcsan_spec):
    graph = {"edge_weights": "unit", "gate": "gru"}
    for spec, extra in ((srgnn_spec, {}), (gcsan_spec, {"layer_form": "transformer", "init": "normal"})):
        name, overrides, notes = baselines.reference_with_notes(spec)
        bias = "both" if name == "SRGNN" else "inside"
        changed = with_block_params(spec, "session_graph_encoder", **graph, message_bias=bias)
        if extra:
            changed = with_block_params(changed, "graph_self_attention", **extra)
        _, changed_overrides, changed_notes = baselines.reference_with_notes(changed)
        assert changed_overrides == overrides  # RecBole's run (and its cached result) stays the same
        assert not any(note.startswith("edge_weights: unit, as RecBole") for note in notes)
        assert any(note.startswith(f"edge_weights: unit, as RecBole's {name}") for note in changed_notes)
        assert any(note.startswith(f"gate: gru, as RecBole's {name}") for note in changed_notes)
        for word, value in extra.items():
            assert any(note.startswith(f"{word}: {value}, as RecBole's GCSAN") for note in changed_notes)
        assert any(note.startswith(f"message_bias: {bias}, as RecBole's {name}") for note in changed_notes)
        assert not any(note.startswith("message_bias:") for note in notes)


def test_the_message_bias_inside_equals_the_papers_outside_except_on_a_node_without_edges():
    torch.manual_seed(0)
    outside = GatedGraphCell(4)
    inside = GatedGraphCell(4, message_bias="inside")
    inside.load_state_dict(outside.state_dict())
    histories, lengths = torch.tensor([[3, 4, 3, 9]]), torch.tensor([4])  # 9 sends nothing, every node receives
    alias, _, incoming, outgoing = session_graph(histories, lengths)
    nodes = torch.randn(1, 4, 4)
    got_inside, got_outside = inside(nodes, incoming, outgoing), outside(nodes, incoming, outgoing)
    last = alias[0, 3]  # item 9's node: no outgoing edge, so only the outside bias reaches its messages
    others = [node for node in alias[0].unique().tolist() if node != last]
    torch.testing.assert_close(got_inside[0, others], got_outside[0, others])
    assert not torch.allclose(got_inside[0, last], got_outside[0, last])


def test_srgnn_renders_recboles_graph_options(srgnn_spec, srgnn_model, sequences, tmp_path):
    """edge_weights unit, gate gru, message_bias both: the rendered model's graph and cell are RecBole's (3d + 2d
    more parameters: U_z, U_r, U_o's biases, b_iah and b_ioh), and its positions' vectors are that cell's."""
    spec = with_block_params(with_values(srgnn_spec, embedding_size=8, batch_size=64), "session_graph_encoder",
                             edge_weights="unit", gate="gru", message_bias="both")
    folder = rendered(spec, tmp_path / "model")
    model = build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()
    _, paper = srgnn_model
    assert (model.edge_weights, model.graph_cell.gate, paper.edge_weights, paper.graph_cell.gate) == (
        "unit", "gru", "occurrences", "paper")
    count = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in paper.parameters())
    assert count == 5 * 8
    histories, lengths = torch.tensor([[3, 4, 3, 4, 9, 0]]), torch.tensor([5])
    with torch.no_grad():
        alias, node_items, incoming, outgoing = session_graph(histories, lengths, edge_weights="unit")
        nodes = model.graph_cell(model.item_embedding(node_items), incoming, outgoing)
        last = nodes[0, alias[0, 4]]
        s_l = model.hybrid.weight[:, :8] @ last  # the local half of W_3 [s_l; s_g] reads the last position
        x = nodes[0, alias[0, :5]]
        alpha = model.attention_query(torch.sigmoid(model.attention_last(last) + model.attention_item(x)))
        expected = s_l + model.hybrid.weight[:, 8:] @ (alpha * x).sum(dim=0) + model.hybrid.bias
        got = model.encode_sequence(histories, lengths, torch.arange(1))[0]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_a_recurrent_session_paper_is_not_read_as_srgnn(tmp_path):
    spec = spec_of(tmp_path, GRU_SESSION_PAPER)
    blocks = [block.block for block in spec.architecture]
    assert "session_graph_encoder" not in blocks and "session_attention_readout" not in blocks
    assert spec.reference != "SRGNN"


def test_the_session_graph_weighs_edges_by_occurrences_over_degrees():
    # clicks 5 6 5 7 5 6: edges 5->6 twice, 6->5, 5->7, 7->5; node order is the items' (5, 6, 7), then padding
    histories, lengths = torch.tensor([[5, 6, 5, 7, 5, 6, 0]]), torch.tensor([6])
    alias, node_items, incoming, outgoing = session_graph(histories, lengths)
    nodes = node_items[0].tolist()
    index = {item: nodes.index(item) for item in (5, 6, 7)}
    assert [nodes[a] for a in alias[0, :6].tolist()] == [5, 6, 5, 7, 5, 6]
    expected_out = {(5, 6): 2 / 3, (5, 7): 1 / 3, (6, 5): 1.0, (7, 5): 1.0}
    expected_in = {(6, 5): 1.0, (5, 6): 1 / 2, (5, 7): 1 / 2, (7, 5): 1.0}  # (receiver, sender)
    for u in (5, 6, 7):
        for v in (5, 6, 7):
            assert outgoing[0, index[u], index[v]].item() == pytest.approx(expected_out.get((u, v), 0.0))
            assert incoming[0, index[u], index[v]].item() == pytest.approx(expected_in.get((u, v), 0.0))
    padding = nodes.index(0)  # the padding is a node with no edge
    assert outgoing[0, padding].sum() == incoming[0, padding].sum() == outgoing[0, :, padding].sum() == 0


def test_srgnn_scores_equal_the_papers_equations_on_a_tiny_session(srgnn_model):
    """Eq. 1-5 on the nodes for `step` steps, then s_l, s_g, s_h = W_3 [s_l; s_g] and s_h^T v_i, written out."""
    _, model = srgnn_model
    histories, lengths = torch.tensor([[3, 4, 3, 9, 0]]), torch.tensor([4])
    with torch.no_grad():
        got = model.full_sort_scores(histories, lengths, torch.arange(1))[0]
        items = [3, 4, 9]  # nodes; edges 3->4, 4->3, 3->9
        v = {item: model.item_embedding.weight[item] for item in items}
        senders = {3: [4], 4: [3], 9: [3]}  # incoming edges
        receivers = {3: [4, 9], 4: [3], 9: []}  # outgoing edges
        cell = model.graph_cell
        for _ in range(model.graph_steps):
            new = {}
            for item in items:  # Eq. 1: a = A v W + b, the bias after the propagation (also with no edge)
                a_in = (sum((cell.edge_in.weight @ v[u] for u in senders[item]), torch.zeros(8))
                        / max(len(senders[item]), 1) + cell.edge_in.bias)
                a_out = (sum((cell.edge_out.weight @ v[w] for w in receivers[item]), torch.zeros(8))
                         / max(len(receivers[item]), 1) + cell.edge_out.bias)
                a = torch.cat([a_in, a_out])
                w_z, w_r, w_o = cell.from_messages(a).chunk(3)
                u_z, u_r = cell.from_state(v[item]).chunk(2)
                z, r = torch.sigmoid(w_z + u_z), torch.sigmoid(w_r + u_r)
                candidate = torch.tanh(w_o + cell.candidate_state(r * v[item]))
                new[item] = (1 - z) * v[item] + z * candidate
            v = new
        clicks = [v[item] for item in (3, 4, 3, 9)]
        s_l = clicks[-1]
        alphas = [model.attention_query(torch.sigmoid(model.attention_last(s_l) + model.attention_item(x)))
                  for x in clicks]
        s_g = sum(alpha * x for alpha, x in zip(alphas, clicks, strict=True))
        s_h = model.hybrid(torch.cat([s_l, s_g]))
        expected = s_h @ model.item_embedding.weight.T
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def recboles_session_graph(histories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RecBole's SRGNN `_get_slice` (a Python loop per row): alias, A [B, L, 2L] (incoming | outgoing), items."""
    from recbole.model.sequential_recommender.srgnn import SRGNN
    alias, connections, items, _ = SRGNN._get_slice(SimpleNamespace(device="cpu"), histories)
    return alias, connections, items


def test_unit_edge_weights_give_recboles_connection_matrices_and_occurrences_do_not():
    # 5 -> 6 occurs twice: the paper weighs it 2 (of 5's out-degree 3), RecBole 1 (of 2 distinct successors)
    histories, lengths = torch.tensor([[5, 6, 5, 7, 5, 6, 0], [2, 3, 0, 0, 0, 0, 0]]), torch.tensor([6, 2])
    alias, connections, items = recboles_session_graph(histories)
    length = histories.shape[1]
    unit = session_graph(histories, lengths, edge_weights="unit")
    assert torch.equal(unit[0], alias) and torch.equal(unit[1], items)
    torch.testing.assert_close(unit[2], connections[:, :, :length])
    torch.testing.assert_close(unit[3], connections[:, :, length:])
    occurrences = session_graph(histories, lengths)
    assert not torch.allclose(occurrences[3], connections[:, :, length:])
    torch.testing.assert_close(occurrences[2][1], unit[2][1])  # a session without repeated edges: the same graph
    with pytest.raises(ValueError, match="edge_weights"):
        session_graph(histories, lengths, edge_weights="binary")


@pytest.mark.parametrize("message_bias", ["both", "inside"])  # RecBole's SRGNN's cell, its GCSAN's
def test_the_gru_gate_gives_recboles_gated_graph_cell(message_bias):
    from recbole.model.sequential_recommender import gcsan, srgnn
    torch.manual_seed(0)
    dim = 6
    propagation_bias = message_bias == "both"
    theirs = (srgnn.GNN if propagation_bias else gcsan.GNN)(dim, step=1)
    for weight in theirs.parameters():
        torch.nn.init.uniform_(weight, -0.5, 0.5)
    ours = GatedGraphCell(dim, gate="gru", message_bias=message_bias)
    order = [1, 0, 2]  # RecBole's chunks are (reset, update, new); ours (update, reset, candidate)
    with torch.no_grad():
        for name in ("edge_in", "edge_out"):
            getattr(ours, name).load_state_dict(getattr(theirs, f"linear_{name}").state_dict())
        for layer, (weight, bias) in ((ours.from_messages, (theirs.w_ih, theirs.b_ih)),
                                      (ours.from_state, (theirs.w_hh, theirs.b_hh))):
            layer.weight.copy_(torch.cat([weight.chunk(3)[i] for i in order]))
            layer.bias.copy_(torch.cat([bias.chunk(3)[i] for i in order]))
        if propagation_bias:
            ours.propagation_bias.copy_(torch.cat([theirs.b_iah, theirs.b_ioh]))
    histories, lengths = torch.tensor([[3, 4, 3, 9, 4, 0], [7, 8, 0, 0, 0, 0]]), torch.tensor([5, 2])
    _, connections, _ = recboles_session_graph(histories)
    _, _, incoming, outgoing = session_graph(histories, lengths, edge_weights="unit")
    nodes = torch.randn(2, 6, dim)
    torch.testing.assert_close(ours(nodes, incoming, outgoing), theirs(connections, nodes), rtol=1e-5, atol=1e-6)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    paper = GatedGraphCell(dim)  # the paper's gate: U_o after the reset gate, no hidden biases, one message bias
    assert sum(p.numel() for p in paper.parameters()) == sum(p.numel() for p in ours.parameters()) - 3 * dim - (
        2 * dim if propagation_bias else 0)


@pytest.mark.slow  # ~30 s: the gates' sandboxed probe and two epochs
def test_srgnn_from_the_paper_passes_the_gates_and_trains(srgnn_model, sequences, tmp_path):
    folder, _ = srgnn_model
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    result = train_in_process(folder, Path(sequences.path), tmp_path / "out",
                              ["trainer.max_epochs=2", "trainer.csv_logger=false"])
    assert result.status == "ok" and result.epochs_run == 2


# --- GC-SAN ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gcsan_spec(tmp_path_factory: pytest.TempPathFactory):
    return spec_of(tmp_path_factory.mktemp("gcsan"), GCSAN_PAPER)


@pytest.fixture(scope="module")
def gcsan_model(gcsan_spec, sequences, tmp_path_factory: pytest.TempPathFactory):
    spec = with_values(gcsan_spec, embedding_size=8, batch_size=64, dropout=0.0)
    folder = rendered(spec, tmp_path_factory.mktemp("gcsan_model"))
    return folder, build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()


def test_gcsan_is_read_into_its_blocks_faithful_with_recboles_class(gcsan_spec):
    spec = gcsan_spec
    assert (spec.family, spec.task, spec.loss, spec.model_name) == ("sequential", "topk", "ce", "GC-SAN")
    assert [block.block for block in spec.architecture] == GCSAN_BLOCKS
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["session graph with a gated graph network"] == "session_graph_encoder"
    assert built["weighted sum of the self-attention output and the last item's graph vector"] == \
        "graph_self_attention"
    assert spec.reference == "GCSAN" and spec.hp("embedding_size") == 120
    assert spec.hp("n_heads") == 1 and spec.hp("n_layers") == 1
    name, overrides, notes = baselines.reference_with_notes(spec)
    assert name == "GCSAN" and overrides["hidden_size"] == overrides["inner_size"] == 120
    assert overrides["n_heads"] == 1 and overrides["weight"] == 0.6 and overrides["hidden_act"] == "relu"
    assert any("LayerNorm" in note for note in notes)


def test_neither_session_graph_paper_is_read_as_the_other(srgnn_spec, gcsan_spec):
    assert "graph_self_attention" not in [block.block for block in srgnn_spec.architecture]
    assert "session_attention_readout" not in [block.block for block in gcsan_spec.architecture]


def test_gcsan_readout_equals_the_papers_equations_on_a_tiny_session(gcsan_model):
    """F = Attention(E), E' = FFN(F) + F per layer over the real positions, S_f = omega E_n + (1 - omega) h_n."""
    _, model = gcsan_model
    histories, lengths = torch.tensor([[3, 4, 3, 9, 0]]), torch.tensor([4])
    with torch.no_grad():
        got = model.encode_sequence(histories, lengths, torch.arange(1))[0]
        alias, node_items, incoming, outgoing = session_graph(histories, lengths)
        nodes = model.item_embedding(node_items)
        for _ in range(model.graph_steps):
            nodes = model.graph_cell(nodes, incoming, outgoing)
        h = nodes[0, alias[0, :4]]  # the four real positions' graph vectors
        e = h
        for attention, feed_forward in zip(model.graph_attention, model.graph_feed_forward, strict=True):
            f = attention(e[None], e[None], e[None], need_weights=False)[0][0]  # the padding is simply absent
            e = feed_forward[2](torch.relu(feed_forward[0](f))) + f
        expected = model.omega * e[-1] + (1 - model.omega) * h[-1]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_gcsans_last_layer_attends_the_last_query_alone_as_the_full_layer_reads_it(gcsan_spec, sequences, tmp_path):
    """Two layers, sessions of different lengths, training mode: the readout (and its gradients) equal the form that
    runs the last layer over every position and reads the last one."""
    spec = with_values(gcsan_spec, embedding_size=8, batch_size=64, dropout=0.0, n_layers=2)
    folder = rendered(spec, tmp_path / "model")
    model = build_model(folder, load_config(folder), load_sequences(sequences.path)).train()
    histories, lengths = torch.tensor([[3, 4, 3, 9, 0], [5, 6, 0, 0, 0], [2, 2, 7, 8, 1]]), torch.tensor([4, 2, 5])
    got = model.encode_sequence(histories, lengths, torch.arange(3))
    alias, node_items, incoming, outgoing = session_graph(histories, lengths)
    nodes = model.item_embedding(node_items)
    for _ in range(model.graph_steps):
        nodes = model.graph_cell(nodes, incoming, outgoing)
    x = h = nodes.gather(1, alias.unsqueeze(-1).expand(-1, -1, nodes.shape[-1]))
    for attention, feed_forward in zip(model.graph_attention, model.graph_feed_forward, strict=True):
        f = attention(x, x, x, key_padding_mask=histories == 0, need_weights=False)[0]
        x = feed_forward(f) + f
    rows = torch.arange(3)
    expected = model.omega * x[rows, lengths - 1] + (1 - model.omega) * h[rows, lengths - 1]
    parameters = list(model.parameters())
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for new, old in zip(torch.autograd.grad(got.sin().sum(), parameters, allow_unused=True),
                        torch.autograd.grad(expected.sin().sum(), parameters, allow_unused=True), strict=True):
        assert (new is None) == (old is None)
        if new is not None:
            torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-6)


def test_gcsans_transformer_layer_form_gives_recboles_transformer_encoder(gcsan_spec, sequences, tmp_path):
    """layer_form transformer, two layers: the readout equals RecBole's TransformerEncoder (causal mask, residual
    and LayerNorm around attention and feed-forward) over the same graph vectors, with the same weights."""
    from recbole.model.layers import TransformerEncoder
    spec = with_block_params(with_values(gcsan_spec, embedding_size=8, batch_size=64, dropout=0.0, n_layers=2,
                                         n_heads=2), "graph_self_attention", layer_form="transformer")
    folder = rendered(spec, tmp_path / "model")
    model = build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()
    theirs = TransformerEncoder(n_layers=2, n_heads=2, hidden_size=8, inner_size=8, hidden_dropout_prob=0.0,
                                attn_dropout_prob=0.0, hidden_act="relu", layer_norm_eps=1e-12).eval()
    with torch.no_grad():
        for layer, attention, feed_forward, norms in zip(theirs.layer, model.graph_attention,
                                                         model.graph_feed_forward, model.graph_layer_norms,
                                                         strict=True):
            heads = layer.multi_head_attention
            for index, name in enumerate(("query", "key", "value")):
                getattr(heads, name).weight.copy_(attention.in_proj_weight.chunk(3)[index])
                getattr(heads, name).bias.copy_(attention.in_proj_bias.chunk(3)[index])
            heads.dense.load_state_dict(attention.out_proj.state_dict())
            heads.LayerNorm.load_state_dict(norms[0].state_dict())
            layer.feed_forward.dense_1.load_state_dict(feed_forward[0].state_dict())
            layer.feed_forward.dense_2.load_state_dict(feed_forward[2].state_dict())
            layer.feed_forward.LayerNorm.load_state_dict(norms[1].state_dict())
    histories, lengths = torch.tensor([[3, 4, 3, 9, 0], [5, 6, 0, 0, 0], [2, 2, 7, 8, 1]]), torch.tensor([4, 2, 5])
    with torch.no_grad():
        got = model.encode_sequence(histories, lengths, torch.arange(3))
        alias, node_items, incoming, outgoing = session_graph(histories, lengths)
        nodes = model.graph_cell(model.item_embedding(node_items), incoming, outgoing)
        h = nodes.gather(1, alias.unsqueeze(-1).expand(-1, -1, 8))
        visible = torch.tril((histories != 0)[:, None, None, :].expand(-1, -1, 5, -1))
        output = theirs(h, torch.where(visible, 0.0, -10000.0), output_all_encoded_layers=True)[-1]
        rows = torch.arange(3)
        expected = model.omega * output[rows, lengths - 1] + (1 - model.omega) * h[rows, lengths - 1]
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_gcsans_normal_init_is_recboles_and_leaves_the_gates_uniform(gcsan_spec, sequences, tmp_path):
    spec = with_values(gcsan_spec, embedding_size=64, batch_size=64)
    models = {init: build_model(folder, load_config(folder), load_sequences(sequences.path)) for init, folder in (
        (init, rendered(with_block_params(spec, "graph_self_attention", init=init), tmp_path / init))
        for init in ("default", "normal"))}
    normal, default = models["normal"], models["default"]
    for weight in (normal.item_embedding.weight, normal.graph_cell.edge_in.weight,
                   normal.graph_attention[0].in_proj_weight, normal.graph_feed_forward[0][0].weight):
        assert 0.017 < weight.std().item() < 0.023
    for bias in (normal.graph_cell.edge_out.bias, normal.graph_attention[0].in_proj_bias,
                 normal.graph_attention[0].out_proj.bias, normal.graph_feed_forward[0][2].bias):
        assert torch.count_nonzero(bias) == 0
    bound = 64 ** -0.5  # the gates: uniform in +-1/sqrt(d) under either init
    for model in (normal, default):
        assert model.graph_cell.from_messages.weight.abs().max() <= bound
        assert model.graph_cell.from_messages.weight.std() > 0.8 * bound / 3 ** 0.5
    assert default.item_embedding.weight.std() > 0.8 * bound / 3 ** 0.5
    assert torch.count_nonzero(default.graph_cell.edge_out.bias) > 0


def recboles_gcsan_in_our_layout(model, theirs, of=lambda tensor: tensor):
    """(our parameter, `of` RecBole's GCSAN's matching tensor in our layout) for every parameter: its GRU chunks
    (reset, update, new) put in our order (update, reset, candidate), its query, key and value in one in-projection."""
    gnn, order = theirs.gnn, [1, 0, 2]
    yield model.item_embedding.weight, of(theirs.item_embedding.weight)
    cell = model.graph_cell
    for mine, their in ((cell.edge_in, gnn.linear_edge_in), (cell.edge_out, gnn.linear_edge_out)):
        yield from ((mine.weight, of(their.weight)), (mine.bias, of(their.bias)))
    for layer, (weight, bias) in ((cell.from_messages, (gnn.w_ih, gnn.b_ih)), (cell.from_state, (gnn.w_hh, gnn.b_hh))):
        yield layer.weight, torch.cat([of(weight).chunk(3)[i] for i in order])
        yield layer.bias, torch.cat([of(bias).chunk(3)[i] for i in order])
    for their_layer, attention, feed_forward, norms in zip(theirs.self_attention.layer, model.graph_attention,
                                                           model.graph_feed_forward, model.graph_layer_norms,
                                                           strict=True):
        heads, their_ffn = their_layer.multi_head_attention, their_layer.feed_forward
        projections = [getattr(heads, name) for name in ("query", "key", "value")]
        yield attention.in_proj_weight, torch.cat([of(projection.weight) for projection in projections])
        yield attention.in_proj_bias, torch.cat([of(projection.bias) for projection in projections])
        for mine, their in ((attention.out_proj, heads.dense), (norms[0], heads.LayerNorm),
                            (feed_forward[0], their_ffn.dense_1), (feed_forward[2], their_ffn.dense_2),
                            (norms[1], their_ffn.LayerNorm)):
            yield from ((mine.weight, of(their.weight)), (mine.bias, of(their.bias)))


def test_gcsan_with_recboles_five_words_is_recboles_gcsan_module_with_the_same_weights(gcsan_spec, sequences,
                                                                                       tmp_path):
    """With RecBole's five words (unit edges, the GRU gate, the bias inside, Transformer layers, N(0, 0.02) init),
    two layers of two heads and RecBole's weights copied in, our GC-SAN's full ranking, CE loss and every gradient
    equal RecBole's GCSAN's on right-padded sessions with repeated items: the modules are the same function."""
    from recbole.model.sequential_recommender.gcsan import GCSAN

    spec = with_values(gcsan_spec, embedding_size=8, batch_size=64, dropout=0.0, n_layers=2, n_heads=2)
    spec = with_block_params(spec, "session_graph_encoder", edge_weights="unit", gate="gru", message_bias="inside")
    spec = with_block_params(spec, "graph_self_attention", layer_form="transformer", init="normal")
    folder = rendered(spec, tmp_path / "model")
    split = load_sequences(sequences.path)
    torch.manual_seed(0)
    model = build_model(folder, load_config(folder), split).train()
    stub = RecBoleStub(split.n_items, 6, hidden_size=8, inner_size=8, n_layers=2, n_heads=2, hidden_dropout_prob=0.0,
                       attn_dropout_prob=0.0, hidden_act="relu", layer_norm_eps=1e-12, step=1, weight=model.omega,
                       reg_weight=0.0, initializer_range=0.02)
    theirs = GCSAN(stub.config, stub).train()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in theirs.parameters())
    with torch.no_grad():
        for mine, their in recboles_gcsan_in_our_layout(model, theirs):
            mine.copy_(their)
    histories = torch.tensor([[3, 4, 3, 9, 4, 0], [7, 8, 0, 0, 0, 0], [2, 2, 7, 8, 1, 5], [6, 0, 0, 0, 0, 0]])
    users, batch, interaction = right_padded_batch(stub, histories, torch.tensor([5, 2, 6, 1]),
                                                   torch.tensor([5, 3, 9, 2]))
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(histories, batch["lengths"], users),
                                   theirs.full_sort_predict(interaction), rtol=1e-5, atol=1e-6)
    assert_same_loss_and_gradients(model.loss(batch),
                                   theirs.calculate_loss(interaction).reshape(()),  # + 0 x its EmbLoss [1]
                                   partial(recboles_gcsan_in_our_layout, model, theirs), rtol=1e-4, atol=1e-6)
    assert float(model.graph_cell.from_state.weight.grad.abs().sum()) > 0.0


@pytest.mark.slow  # ~30 s: the gates' sandboxed probe and two epochs
def test_gcsan_from_the_paper_passes_the_gates_and_trains(gcsan_model, sequences, tmp_path):
    folder, _ = gcsan_model
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    result = train_in_process(folder, Path(sequences.path), tmp_path / "out",
                              ["trainer.max_epochs=2", "trainer.csv_logger=false"])
    assert result.status == "ok" and result.epochs_run == 2
