"""Session and sequential models read from fixture papers that describe them in prose (NARM, STAMP, NextItNet, FPMC):
each paper is read into its model's blocks, comes out `faithful` with RecBole's class of it as the reference,
renders, passes validate's gates and trains; each block equals its paper's equation computed by hand on a tiny
input; a paper lacking the defining part (STAMP's ablation STMP, without attention) is not read as the model. The
fixture papers are written the way papers describe their methods; none is a real paper."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from paper_autotrain.data.sequential import load_sequences
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.stages import render, validate
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import rendered, spec_of, with_values
from tests.recbole_stub import (
    RIGHT_PADDED,
    RIGHT_PADDED_LENGTHS,
    RecBoleStub,
    assert_same_loss_and_gradients,
    pairwise_batch,
    right_padded_batch,
    shuffled_ids,
)

SESSION_SETTINGS = ("We use the YOOCHOOSE and DIGINETICA datasets and report Recall@20 and MRR@20. Table 2 reports "
                    "the results.")

NARM_PAPER = [
    ["Neural Attentive Session-based Recommendation",
     "Abstract. Given e-commerce scenarios where user profiles are invisible, session-based recommendation predicts "
     "the next item from the clicks of the current session. We propose a neural attentive recommendation machine "
     "(NARM) with an encoder-decoder architecture that captures both the user's sequential behaviour and the "
     "user's main purpose in the current session.",
     "1 INTRODUCTION",
     "Recurrent neural networks model the whole session as a sequence, but they ignore the user's main purpose, "
     "which attention mechanisms can catch."],
    ["2 METHOD",
     "2.1 Global Encoder",
     "Each item of the session is mapped to an item embedding, and a recurrent network with gated recurrent units "
     "(GRU) reads the sequence. The global encoder summarises the whole sequential behaviour by the final hidden "
     "state h_t of the GRU.",
     "2.2 Local Encoder",
     "The local encoder uses an attention mechanism over the hidden states to capture the main purpose of the "
     "session: the weight of each previous hidden state h_j with respect to the last one is "
     "alpha_tj = v^T sigmoid(A1 h_t + A2 h_j), and the local representation is the weighted sum of the hidden "
     "states, c_t^l = sum_j alpha_tj h_j.",
     "2.3 Decoder",
     "The unified sequence representation c_t is the concatenation of the outputs of the global encoder and the "
     "local encoder. Instead of a fully connected decoder, we use a bi-linear decoding scheme: the similarity "
     "score of item i is S_i = emb_i^T B c_t, where B is a matrix that maps the representation into the item "
     "embedding space. A softmax over all the items gives the probability of the next item, and the model is "
     "trained with the cross-entropy loss over all items."],
    ["3 EXPERIMENTS", SESSION_SETTINGS,
     "Settings. The item embedding size is 50 and the number of hidden units is 100. We use the Adam optimizer "
     "with a learning rate of 0.001 and a mini-batch size of 512."],
]

STAMP_SECTIONS = {
    "attention": "2.2 Attention Net. The attention net attends over the items of the session with respect to the "
                 "last click and the general interest of the session: for each item x_i, "
                 "alpha_i = W0 sigmoid(W1 x_i + W2 x_t + W3 m_s + b_a), where x_t is the last click and m_s is the "
                 "average of the item embeddings of the session. The attention weights give the memory "
                 "m_a = sum_i alpha_i x_i, which captures the user's general interest.",
    "mean": "2.2 Session Memory. The general interest of the session is represented by the average of the item "
            "embeddings of the session, m_s, and the current interest by the last click m_t = x_t.",
}


def stamp_paper(memory: str, title: str) -> list[list[str]]:
    return [
        [title,
         "Abstract. Session-based recommendation predicts the next click from the anonymous clicks of the current "
         "session. Users' general interests and their current interests both matter for the next click.",
         "1 INTRODUCTION",
         "Recurrent networks model the whole session and may miss the user's current interest, which the last "
         "click reflects."],
        ["2 METHOD",
         "2.1 Embedding",
         "Each item is mapped to a d-dimensional item embedding x_i.",
         STAMP_SECTIONS[memory],
         "2.3 Scoring",
         "Two MLPs, each a single layer with tanh, abstract the memory into h_s and the last click into h_t. The "
         "score of a candidate item i is the trilinear composition z_i = <h_s, h_t, x_i>, the sum over dimensions "
         "of the product of the three vectors. A softmax over all the items gives the probability of the next "
         "click, and the model is trained with the cross-entropy loss over all items."],
        ["3 EXPERIMENTS", SESSION_SETTINGS,
         "Settings. The embedding dimension is 100 and the learning rate is 0.005 with the Adam optimizer. The "
         "mini-batch size is 512."],
    ]


NEXTITNET_PAPER = [
    ["A Simple Convolutional Generative Network for Next Item Recommendation",
     "Abstract. Convolutional neural networks have been used for session-based and sequential recommendation. We "
     "propose NextItNet, a convolutional generative model for next item recommendation that learns long-range "
     "dependencies with a stack of holed convolutional layers.",
     "1 INTRODUCTION",
     "Caser treats the sequence of items as an image and uses max pooling, which loses sequential information."],
    ["2 MODEL",
     "2.1 Dilated Convolutions",
     "Each item of the input sequence is mapped to an item embedding. We stack one-dimensional dilated causal "
     "convolutions, so that the output at each position only depends on the items before it: the dilation "
     "doubles from layer to layer, with dilation factors 1, 2, 4 and 8, and the stack is repeated to enlarge the "
     "receptive field.",
     "2.2 Residual Learning",
     "The dilated convolutional layers are wrapped by residual blocks: each residual block holds two dilated "
     "convolutions, each followed by layer normalization and ReLU, and adds its input to its output.",
     "2.3 Final Layer and Training",
     "The output of the last layer is mapped to the item space and a softmax over all the items gives the "
     "distribution of the next item. The model is trained with the cross-entropy loss over all items, and the "
     "next item is predicted at every position of the sequence, so one pass trains on all the sub-sequences."],
    ["3 EXPERIMENTS",
     "We use the MovieLens and Last.fm datasets and report MRR@5 and HR@5. Table 2 reports the results.",
     "Settings. The embedding size is 64 and the kernel size is 3. We use the Adam optimizer with a learning "
     "rate of 0.001 and a batch size of 256."],
]

FPMC_PAPER = [
    ["Factorizing Personalized Markov Chains for Next-Basket Recommendation",
     "Abstract. Recommender systems are an important component of many websites. Matrix factorization captures "
     "the user's taste, Markov chains capture sequential behaviour from the last transactions. We bring both "
     "together: a personalized transition cube over users and items is factorized, which subsumes both a common "
     "Markov chain and the normal matrix factorization model. We call the model Factorized Personalized Markov "
     "Chains (FPMC).",
     "1 INTRODUCTION",
     "Next-basket recommendation predicts the items a user will buy next from the sequence of baskets."],
    ["2 FACTORIZING PERSONALIZED MARKOV CHAINS",
     "2.1 Model",
     "Each user has her own transition matrix, and all of them form a transition cube. We model the cube with a "
     "pairwise factorization: the score of item i for user u after last item l is "
     "x(u, l, i) = <v_u^{U,I}, v_i^{I,U}> + <v_i^{I,L}, v_l^{L,I}>, the inner product of user and item latent "
     "factors plus the inner product of the factors of the next item and the last item.",
     "2.2 Learning",
     "We optimize the sequential Bayesian personalized ranking criterion (S-BPR): for each observed next item i "
     "and sampled negative item j the model maximizes ln sigmoid(x(u, l, i) - x(u, l, j)), with L2 "
     "regularization, learned by stochastic gradient descent with bootstrap sampling."],
    ["3 EXPERIMENTS",
     "We use an online drug store dataset and report the F-measure and AUC. Table 2 reports the results.",
     "Settings. The embedding size is 64. We learn FPMC with a learning rate of 0.01 and the L2 "
     "regularization coefficient is 0.001."],
]

PAPERS = {
    "NARM": (NARM_PAPER, ["item_embedding", "narm_encoder", "item_dot_score"], "ce"),
    "STAMP": (stamp_paper("attention", "STAMP: Short-Term Attention/Memory Priority Model for Session-based "
                                       "Recommendation"),
              ["item_embedding", "stamp_encoder", "item_dot_score"], "ce"),
    "NextItNet": (NEXTITNET_PAPER, ["item_embedding", "nextitnet_encoder", "last_position", "item_dot_score"], "ce"),
    "FPMC": (FPMC_PAPER, ["fpmc_score"], "bpr"),
}


def small(spec, **values):
    """The spec at sizes the synthetic sequences train in seconds."""
    return with_values(spec, **{"batch_size": 64, "embedding_size": 8, "hidden_size": 8, "max_seq_length": 10,
                                **values})


def built_model(pages, sequences, tmp_path: Path, **values):
    """Our model rendered from the paper at small sizes, built on the synthetic sequences, in eval mode."""
    folder = rendered(small(spec_of(tmp_path / "paper", pages), **values), tmp_path / "model")
    split = load_sequences(sequences.path)
    return build_model(folder, load_config(folder), split).eval(), split


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks, loss = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.trained_loss, spec.model_name) == ("sequential", "topk", loss, model)
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == model == composition_class("sequential", blocks, spec.trained_loss)
    assert not spec.custom
    found = reference_with_notes(spec)
    assert found is not None and found[0] == model


def test_each_papers_stated_parts_are_built_by_its_block_and_its_values_reach_recbole(tmp_path):
    expected = {
        "NARM": {"recurrent network with attention over its states (global and local encoders)": "narm_encoder",
                 "gated recurrent unit over the sequence": "narm_encoder",
                 "bilinear decoding of the session representation against the item embeddings": "narm_encoder"},
        "STAMP": {"attention over the session's items with respect to the last click and the session's general "
                  "interest": "stamp_encoder",
                  "trilinear composition of the session, last-click and item vectors": "stamp_encoder"},
        "NextItNet": {"dilated or causal 1-D convolutions": "nextitnet_encoder", "residual units": "nextitnet_encoder"},
        "FPMC": {"factorised personalised Markov chain (user-item MF plus factorised item-to-item transitions)":
                 "fpmc_score"},
    }
    overrides = {}
    for model, parts in expected.items():
        spec = spec_of(tmp_path / model, PAPERS[model][0])
        built = {component.name: component.block for component in spec.fidelity.components}
        assert {name: built.get(name) for name in parts} == parts, model
        overrides[model] = reference_with_notes(spec)
    name, narm, _ = overrides["NARM"]
    assert (narm["embedding_size"], narm["hidden_size"], narm["n_layers"]) == (50, 100, 1)
    assert narm["dropout_probs"] == [0.25, 0.5] and narm["loss_type"] == "CE"
    _, stamp, notes = overrides["STAMP"]
    assert stamp["embedding_size"] == 100 and stamp["learning_rate"] == 0.005
    assert any("adds the session mean" in note for note in notes)
    _, nextitnet, notes = overrides["NextItNet"]
    # 1, 2, 4, 8 five times: RecBole's residual blocks take d and convolve with d then 2d
    assert (nextitnet["dilations"], nextitnet["block_num"], nextitnet["kernel_size"]) == ([1, 4], 5, 3)
    assert any("last column of the padded sequence" in note for note in notes)
    _, fpmc, notes = overrides["FPMC"]
    assert fpmc["loss_type"] == "BPR" and fpmc["train_neg_sample_args"] == {"distribution": "uniform",
                                                                             "sample_num": 1}
    assert fpmc["embedding_size"] == 64 and fpmc["learner"] == "sgd"
    assert any(note.startswith("l2_reg=0.001 not mapped") for note in notes)


def test_stamps_ablation_without_attention_is_not_read_as_stamp(tmp_path):
    # STMP (the session mean m_s in place of the attention's memory) is the paper's ablation, not the model
    spec = spec_of(tmp_path, stamp_paper("mean", "Short-Term Memory Priority for Session-based Recommendation"))
    assert "stamp_encoder" not in [block.block for block in spec.architecture]
    assert spec.fidelity.verdict == "partial"
    assert "trilinear composition of the session, last-click and item vectors" in spec.fidelity.missing
    with pytest.raises(Exception, match="not fully built"):
        render.run(spec, {})


@pytest.mark.slow
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, sequences, tmp_path):
    # STAMP's paper initialisation (embeddings N(0, 0.002)) makes its trilinear score start tiny: wider vectors
    # let the one-batch loss fall by the overfit gate's 30% within its 40 steps
    values = {"NextItNet": {"n_stacks": 1}, "STAMP": {"embedding_size": 32}}.get(model, {})
    folder = rendered(small(spec_of(tmp_path / "paper", PAPERS[model][0]), **values), tmp_path / "model")
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    result = train_stage.run(folder, sequences, {"max_epochs": 2, "seed": 0, "timeout_s": 300}, tmp_path / "out")
    assert result.status == "ok" and result.epochs_run == 2
    assert 0.0 <= result.test["ndcg@10"] <= 1.0


# --- each block against its paper's equation, by hand ------------------------------------------------------------

HISTORIES = torch.tensor([[3, 5, 2, 0], [7, 0, 0, 0]])
LENGTHS = torch.tensor([3, 1])
USERS = torch.tensor([4, 9])


def test_narm_is_the_global_and_local_encoders_through_the_bilinear_decoder(sequences, tmp_path):
    model, _ = built_model(NARM_PAPER, sequences, tmp_path)
    with torch.no_grad():
        scores = model.full_sort_scores(HISTORIES, LENGTHS, USERS)
        for row in range(2):
            n = int(LENGTHS[row])
            states, _ = model.gru(model.item_embedding(HISTORIES[row:row + 1, :n]))
            h = states[0]  # h_1..h_t
            a1, a2, v = model.attention_a1.weight, model.attention_a2.weight, model.attention_v.weight
            alpha = [float(v @ torch.sigmoid(a1 @ h[-1] + a2 @ h[j])) for j in range(n)]
            local = sum(alpha[j] * h[j] for j in range(n))
            c = torch.cat([h[-1], local])  # [c_g; c_l]
            by_hand = model.item_embedding.weight @ (model.bilinear.weight @ c)  # S_i = emb_i^T B c_t
            torch.testing.assert_close(scores[row], by_hand, rtol=1e-4, atol=1e-5)


def recboles_narm_in_our_layout(model, theirs, of=lambda tensor: tensor):
    """(our parameter, `of` RecBole's NARM's matching tensor in our layout) for every parameter: RecBole's a_1 reads
    every state and a_2 the last (ours the other way round), and its B takes [c_local; c_global] (ours [c_g; c_l])."""
    hidden = model.gru.hidden_size
    yield model.item_embedding.weight, of(theirs.item_embedding.weight)
    for name, weight in model.gru.named_parameters():
        yield weight, of(getattr(theirs.gru, name))
    yield model.attention_a1.weight, of(theirs.a_2.weight)
    yield model.attention_a2.weight, of(theirs.a_1.weight)
    yield model.attention_v.weight, of(theirs.v_t.weight)
    their_b = of(theirs.b.weight)
    yield model.bilinear.weight, torch.cat([their_b[:, hidden:], their_b[:, :hidden]], dim=1)


def test_narm_is_recboles_narm_module_with_the_same_weights(sequences, tmp_path):
    """With RecBole's weights copied in (its attention maps and the halves of B in our order), our NARM's full
    ranking, CE loss and every gradient equal RecBole's NARM's on right-padded sessions: the same function, so what
    remains between the two in a parity run is the random draws."""
    from recbole.model.sequential_recommender.narm import NARM

    torch.manual_seed(0)
    model, split = built_model(NARM_PAPER, sequences, tmp_path, embedding_dropout=0.0, dropout=0.0)
    stub = RecBoleStub(split.n_items, 6, embedding_size=8, hidden_size=8, n_layers=1, dropout_probs=[0.0, 0.0])
    theirs = NARM(stub.config, stub).train()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in theirs.parameters())
    with torch.no_grad():
        for mine, their in recboles_narm_in_our_layout(model, theirs):
            mine.copy_(their)
    model.train()
    users, batch, interaction = right_padded_batch(stub)
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(RIGHT_PADDED, RIGHT_PADDED_LENGTHS, users),
                                   theirs.full_sort_predict(interaction), rtol=1e-5, atol=1e-6)
    assert_same_loss_and_gradients(model.loss(batch), theirs.calculate_loss(interaction),
                                   partial(recboles_narm_in_our_layout, model, theirs), rtol=1e-4, atol=1e-6)
    assert float(theirs.a_1.weight.grad.abs().sum()) > 0.0


def stamp_memory_by_hand(model, row: int, plus_mean: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """STAMP's memory of HISTORIES[row] by the paper's Eq.: m_a = sum_i alpha_i x_i with alpha_i = W_0
    sigma(W_1 x_i + W_2 x_t + W_3 m_s + b_a), plus the session mean m_s where plus_mean (RecBole's form); and x_t."""
    x = model.item_embedding(HISTORIES[row, :int(LENGTHS[row])])
    last, mean = x[-1], x.mean(dim=0)
    w0, w1, w2, w3 = (model.attention_w0.weight, model.attention_w1.weight, model.attention_w2.weight,
                      model.attention_w3.weight)
    alpha = [float(w0 @ torch.sigmoid(w1 @ xi + w2 @ last + w3 @ mean + model.attention_bias)) for xi in x]
    memory = sum(a * xi for a, xi in zip(alpha, x, strict=True))
    return (memory + mean if plus_mean else memory), last


def test_stamp_is_the_attention_memory_two_mlps_and_the_trilinear_score(sequences, tmp_path):
    model, _ = built_model(PAPERS["STAMP"][0], sequences, tmp_path)
    assert (model.session_memory, model.padding_slots) == ("attention", "masked")  # the paper's, by default
    with torch.no_grad():
        for module in (model.mlp_session, model.mlp_last, model.attention_w0):
            module.weight.normal_()  # at the init's weights every score is ~1e-10, below any useful tolerance
        model.item_embedding.weight[0].normal_()  # a padding row the session must not read
        scores = model.full_sort_scores(HISTORIES, LENGTHS, USERS)
        for row in range(2):
            memory, last = stamp_memory_by_hand(model, row, plus_mean=False)
            h_s = torch.tanh(model.mlp_session(memory))
            h_t = torch.tanh(model.mlp_last(last))
            by_hand = torch.stack([(h_s * h_t * item).sum() for item in model.item_embedding.weight])
            torch.testing.assert_close(scores[row], by_hand, rtol=1e-4, atol=1e-7)


def test_nextitnet_residual_blocks_are_dilated_causal_convolutions(sequences, tmp_path):
    model, _ = built_model(NEXTITNET_PAPER, sequences, tmp_path, n_stacks=1, dilations=[1, 2], kernel_size=2)
    with torch.no_grad():
        outputs = model.encode_positions(HISTORIES, LENGTHS, USERS)
        x = model.item_embedding(HISTORIES[0])  # [L, d]

        def causal_conv(inputs, layer):  # y_t = b + sum_k W_k x_{t - (K - 1 - k) * dilation}, zeros before the start
            conv, dilation = model.convolutions[layer], model.dilations[layer]
            out = []
            for t in range(len(inputs)):
                total = conv.bias.clone()
                for k in range(conv.kernel_size[0]):
                    source = t - (conv.kernel_size[0] - 1 - k) * dilation
                    if source >= 0:
                        total += conv.weight[:, :, k] @ inputs[source]
                out.append(total)
            return torch.relu(model.conv_norms[layer](torch.stack(out)))

        by_hand = model.final_layer(causal_conv(causal_conv(x, 0), 1) + x)
        torch.testing.assert_close(outputs[0], by_hand, rtol=1e-4, atol=1e-5)
        # causal: position 1 does not see what follows it
        changed = HISTORIES.clone()
        changed[0, 2] = 9
        torch.testing.assert_close(model.encode_positions(changed, LENGTHS, USERS)[0, :2], outputs[0, :2])
        # the next item is scored from the last real position
        torch.testing.assert_close(model.encode_sequence(HISTORIES, LENGTHS, USERS)[0], outputs[0, 2])


def test_stamp_session_memory_attention_plus_mean_adds_the_session_mean_to_the_memory(sequences, tmp_path):
    """RecBole's STAMP (m_a = sum_i alpha_i x_i + m_s): the same weights score as the paper's form with m_s added to
    the memory; the default is the paper's memory (the test above)."""
    model, _ = built_model(PAPERS["STAMP"][0], sequences, tmp_path, session_memory="attention_plus_mean")
    assert model.session_memory == "attention_plus_mean"
    with torch.no_grad():
        for module in (model.mlp_session, model.mlp_last, model.attention_w0):
            module.weight.normal_()  # large enough that the mean's share of the memory shows in the scores
        scores = model.full_sort_scores(HISTORIES, LENGTHS, USERS)
        model.session_memory = "attention"
        without = model.full_sort_scores(HISTORIES, LENGTHS, USERS)
        for row in range(2):
            memory, last = stamp_memory_by_hand(model, row, plus_mean=True)
            h_s, h_t = torch.tanh(model.mlp_session(memory)), torch.tanh(model.mlp_last(last))
            by_hand = model.item_embedding.weight @ (h_s * h_t)
            torch.testing.assert_close(scores[row], by_hand, rtol=1e-4, atol=1e-7)
        assert not torch.allclose(scores, without, rtol=1e-3, atol=0.0)


def test_nextitnet_read_position_window_end_scores_the_windows_last_slot(sequences, tmp_path):
    """RecBole's NextItNet reads hidden[:, -1] of the zero-padded window: for a history shorter than the window the
    output past its end (the convolutions have read the padding after the last item); a full window reads its last
    item either way."""
    model, _ = built_model(NEXTITNET_PAPER, sequences, tmp_path, n_stacks=1, dilations=[1, 2],
                           read_position="window_end")
    with torch.no_grad():
        outputs = model.encode_positions(HISTORIES, LENGTHS, USERS)
        read = model.encode_sequence(HISTORIES, LENGTHS, USERS)
        torch.testing.assert_close(read, outputs[:, -1])
        assert not torch.allclose(read[1], outputs[1, 0])  # history [7]: not its last item's output
        model.read_position = "last_item"
        torch.testing.assert_close(model.encode_sequence(HISTORIES, LENGTHS, USERS), outputs[[0, 1], [2, 0]])
        full = torch.tensor([[3, 5, 2, 8]])
        model.read_position = "window_end"
        torch.testing.assert_close(model.encode_sequence(full, torch.tensor([4]), USERS[:1]),
                                   model.encode_positions(full, torch.tensor([4]), USERS[:1])[:, 3])


def recboles_nextitnet_in_our_layout(ours, theirs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(our tensor, RecBole's NextItNet tensor) pairs: its 1 x k convolutions as our 1-D ones, its residual blocks'
    two convolutions and LayerNorms as our consecutive layers."""
    pairs = [(ours.item_embedding.weight, theirs.item_embedding.weight),
             (ours.final_layer.weight, theirs.final_layer.weight), (ours.final_layer.bias, theirs.final_layer.bias)]
    for index, block in enumerate(theirs.residual_blocks):
        for layer, (conv, norm) in enumerate(((block.conv1, block.ln1), (block.conv2, block.ln2)), 2 * index):
            pairs += [(ours.convolutions[layer].weight, conv.weight.squeeze(2)),
                      (ours.convolutions[layer].bias, conv.bias),
                      (ours.conv_norms[layer].weight, norm.weight), (ours.conv_norms[layer].bias, norm.bias)]
    return pairs


def test_nextitnet_window_end_is_recboles_nextitnet_module_with_the_same_weights(sequences, tmp_path):
    """With read_position window_end and RecBole's weights copied in, our model's full ranking, CE loss and every
    gradient equal RecBole's NextItNet's: what remains between the two in a parity run is the random draws."""
    from recbole.model.sequential_recommender.nextitnet import NextItNet

    torch.manual_seed(0)
    model, split = built_model(NEXTITNET_PAPER, sequences, tmp_path, n_stacks=2, read_position="window_end")
    stub = RecBoleStub(split.n_items, 6, embedding_size=8, block_num=2, dilations=[1, 4], kernel_size=3,
                       reg_weight=0.0)
    theirs = NextItNet(stub.config, stub)
    with torch.no_grad():
        for mine, their in recboles_nextitnet_in_our_layout(model, theirs):
            mine.copy_(their)
    model.train()
    users, batch, interaction = right_padded_batch(stub)
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(RIGHT_PADDED, RIGHT_PADDED_LENGTHS, users),
                                   theirs.full_sort_predict(interaction))
        model.read_position = "last_item"  # the paper's reading differs wherever a history is shorter
        assert not torch.allclose(model.full_sort_scores(RIGHT_PADDED, RIGHT_PADDED_LENGTHS, users)[0],
                                  theirs.full_sort_predict(interaction)[0])
        model.read_position = "window_end"
    ours_loss, their_loss = model.loss(batch), theirs.calculate_loss(interaction)
    torch.testing.assert_close(ours_loss, their_loss)
    (ours_loss + their_loss).backward()
    torch.testing.assert_close(model.item_embedding.weight.grad, theirs.item_embedding.weight.grad)
    torch.testing.assert_close(model.convolutions[0].weight.grad, theirs.residual_blocks[0].conv1.weight.grad[:, :, 0])
    torch.testing.assert_close(model.final_layer.weight.grad, theirs.final_layer.weight.grad)


def test_nextitnet_at_recboles_seed_starts_from_its_weights_and_three_adam_steps_keep_them_equal(sequences,
                                                                                                   tmp_path):
    """Seeded alike, our NextItNet and RecBole's draw the same initial weights (the same layers in the same order
    under the same laws: U(+-1/sqrt(n_items + 1)) embeddings, PyTorch's convolutions, a Xavier-normal final layer
    with bias 0.1), and our optimiser (fused Adam) and RecBole's Trainer's take the same steps on the same batches:
    in a parity run at one seed the two differ only in the order of the training batches."""
    from recbole.model.sequential_recommender.nextitnet import NextItNet
    from recbole.trainer import Trainer

    folder = rendered(small(spec_of(tmp_path / "paper", NEXTITNET_PAPER), n_stacks=2, read_position="window_end"),
                      tmp_path / "model")
    split = load_sequences(sequences.path)
    stub = RecBoleStub(split.n_items, 6, embedding_size=8, block_num=2, dilations=[1, 4], kernel_size=3,
                       reg_weight=0.0)
    torch.manual_seed(7)
    model = build_model(folder, load_config(folder), split)
    torch.manual_seed(7)
    theirs = NextItNet(stub.config, stub)

    def pairs():
        yield model.item_embedding.weight, theirs.item_embedding.weight
        yield model.final_layer.weight, theirs.final_layer.weight
        yield model.final_layer.bias, theirs.final_layer.bias
        for index, block in enumerate(theirs.residual_blocks):
            for layer, conv in enumerate((block.conv1, block.conv2), 2 * index):
                yield model.convolutions[layer].weight, conv.weight.squeeze(2)
                yield model.convolutions[layer].bias, conv.bias

    for mine, their in pairs():
        assert torch.equal(mine, their)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in theirs.parameters())
    ours_optimiser = model.configure_optimizers()
    recbole_trainer = SimpleNamespace(model=theirs, learner="adam", learning_rate=model.learning_rate,
                                      weight_decay=0.0, config={"reg_weight": 0.0}, logger=None)
    their_optimiser = Trainer._build_optimizer(recbole_trainer)
    model.train()
    users, batch, interaction = right_padded_batch(stub)
    start = model.final_layer.weight.detach().clone()
    for _ in range(3):
        for optimiser, loss in ((ours_optimiser, lambda: model.loss(batch)),
                                (their_optimiser, lambda: theirs.calculate_loss(interaction))):
            optimiser.zero_grad()
            loss().backward()
            optimiser.step()
    for mine, their in pairs():
        torch.testing.assert_close(mine, their, rtol=1e-5, atol=1e-6)
    assert float((model.final_layer.weight.detach() - start).abs().max()) > 1e-3  # three steps of lr 0.001 moved them


def recboles_stamp_in_our_layout(model, theirs, of=lambda tensor: tensor):
    """(our parameter, `of` RecBole's STAMP's matching tensor) for every parameter: the same tensors under other
    names (w0-w3 our attention_w0-w3, b_a our attention_bias, mlp_a / mlp_b our mlp_session / mlp_last)."""
    yield model.item_embedding.weight, of(theirs.item_embedding.weight)
    for mine, their in (("attention_w0", "w0"), ("attention_w1", "w1"), ("attention_w2", "w2"),
                        ("attention_w3", "w3"), ("mlp_session", "mlp_a"), ("mlp_last", "mlp_b")):
        for name, tensor in getattr(model, mine).named_parameters():
            yield tensor, of(getattr(getattr(theirs, their), name))
    yield model.attention_bias, of(theirs.b_a)


def test_stamp_with_recboles_two_choices_is_recboles_stamp_module_padding_row_included(sequences, tmp_path):
    """With session_memory attention_plus_mean, padding_slots included and RecBole's weights copied in, our STAMP's
    scores, CE loss and gradients equal RecBole's STAMP's, its padding row as drawn (nonzero) included: RecBole sums
    its mean and attention over the whole zero-padded window. The padding row is trained in both (the CE loss takes
    every column), so in RecBole it is no fixed small vector; the paper's default (masked) leaves it out."""
    from recbole.model.sequential_recommender.stamp import STAMP

    torch.manual_seed(0)
    model, split = built_model(PAPERS["STAMP"][0], sequences, tmp_path, session_memory="attention_plus_mean",
                               padding_slots="included")
    stub = RecBoleStub(split.n_items, 6, embedding_size=8)
    theirs = STAMP(stub.config, stub)
    with torch.no_grad():
        theirs.item_embedding.weight[0].normal_(0.0, 0.5)  # a padding row as large as a trained one
        for module in (theirs.w0, theirs.mlp_a, theirs.mlp_b):
            module.weight.mul_(20.0)  # beyond N(0, 0.05), so the padding's share shows in the scores
        for mine, their in recboles_stamp_in_our_layout(model, theirs):
            mine.copy_(their)
    model.train()
    users, batch, interaction = right_padded_batch(stub)
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(RIGHT_PADDED, RIGHT_PADDED_LENGTHS, users),
                                   theirs.full_sort_predict(interaction), rtol=1e-4, atol=1e-6)
        model.padding_slots = "masked"  # the paper's session (the default) differs wherever a history is shorter
        masked = model.full_sort_scores(RIGHT_PADDED, RIGHT_PADDED_LENGTHS, users)
        assert not torch.allclose(masked[0], theirs.full_sort_predict(interaction)[0], rtol=1e-3, atol=0.0)
        torch.testing.assert_close(masked[2], theirs.full_sort_predict(interaction)[2], rtol=1e-4, atol=1e-6)
        model.padding_slots = "included"
    assert_same_loss_and_gradients(model.loss(batch), theirs.calculate_loss(interaction),
                                   partial(recboles_stamp_in_our_layout, model, theirs), rtol=1e-4, atol=1e-6)
    assert float(theirs.item_embedding.weight.grad[0].abs().sum()) > 0.0  # the CE loss trains the padding row


def test_nextitnet_channels_last_convolutions_equal_the_conv1d_modules_with_their_gradients(sequences, tmp_path):
    # the block runs each Conv1d's weights as a 1 x k 2-D kernel over [B, d, 1, L] in channels-last order (no
    # transposed copies, 1.5x faster an epoch on one CPU thread); outputs and gradients equal the modules' own form
    model, _ = built_model(NEXTITNET_PAPER, sequences, tmp_path, n_stacks=1, dilations=[1, 2], kernel_size=3)
    model.train()
    histories = torch.tensor([[3, 5, 2, 8, 1, 0], [7, 4, 0, 0, 0, 0], [2, 2, 9, 6, 3, 5]])
    lengths = torch.tensor([5, 2, 6])

    def conv1d_form():
        x = model.item_embedding(histories)
        for index in range(0, len(model.dilations), 2):
            residual = x
            for layer in (index, index + 1):
                shift = (model.kernel_size - 1) * model.dilations[layer]
                padded = torch.nn.functional.pad(x.transpose(1, 2), (shift, 0))
                x = torch.relu(model.conv_norms[layer](model.convolutions[layer](padded).transpose(1, 2)))
            x = x + residual
        return model.final_layer(x)

    outputs = []
    for encode in (lambda: model.encode_positions(histories, lengths, USERS[:1].expand(3)), conv1d_form):
        model.zero_grad()
        out = encode()
        (out * torch.linspace(-1.0, 1.0, out.numel()).view_as(out)).sum().backward()
        outputs.append((out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (new, new_grads), (old, old_grads) = outputs
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-6)
    assert len(new_grads) == len(old_grads) > 0
    for a, b in zip(new_grads, old_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_fpmc_is_user_item_mf_plus_the_factorised_transition_from_the_last_item(sequences, tmp_path):
    model, split = built_model(FPMC_PAPER, sequences, tmp_path)
    with torch.no_grad():
        scores = model.full_sort_scores(HISTORIES, LENGTHS, USERS)
        for row, last in ((0, 2), (1, 7)):
            user = int(USERS[row])
            for item in (1, 4, split.n_items):
                by_hand = (model.user_item.weight[user] @ model.item_user.weight[item]
                           + model.item_last.weight[item] @ model.last_item.weight[last])
                assert float(scores[row, item]) == pytest.approx(float(by_hand), abs=1e-5)


def recboles_fpmc_in_our_layout(model, theirs, users, items, of=lambda tensor: tensor):
    """(our parameter, `of` RecBole's FPMC's matching table with its rows moved to ours) for every parameter; `users`,
    `items`: RecBole's id of each of our users and items (the probe's copy, scripts/recbole_order_probe.py)."""
    yield model.user_item.weight, of(theirs.UI_emb.weight)[users]  # v_u^{U,I}
    yield model.item_user.weight, of(theirs.IU_emb.weight)[items]  # v_i^{I,U}
    yield model.item_last.weight, of(theirs.IL_emb.weight)[items]  # v_i^{I,L}
    yield model.last_item.weight, of(theirs.LI_emb.weight)[items]  # v_l^{L,I}


def test_fpmc_is_recboles_fpmc_module_with_the_same_weights(sequences, tmp_path):
    """RecBole's FPMC weights copied into ours (its users and items numbered its own way, rows moved to our ids):
    the full ranking, the BPR loss on the same negatives and every gradient equal RecBole's module's."""
    from recbole.model.sequential_recommender.fpmc import FPMC

    model, split = built_model(FPMC_PAPER, sequences, tmp_path)
    stub = RecBoleStub(split.n_items, 4, embedding_size=8, loss_type="BPR")
    stub.user_num = split.n_users + 1  # its padding user first
    theirs = FPMC(stub.config, stub)
    users, items = shuffled_ids(split.n_users, split.n_items)
    with torch.no_grad():
        for mine, their in recboles_fpmc_in_our_layout(model, theirs, users, items):
            mine.copy_(their)
    batch, interaction = pairwise_batch(users, items)
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(batch["histories"], batch["lengths"], batch["users"]),
                                   theirs.full_sort_predict(interaction)[:, items], rtol=1e-5, atol=1e-6)
    assert_same_loss_and_gradients(model.loss(batch),
                                   theirs.calculate_loss(interaction),  # its BPR: -log(1e-10 + sigmoid)
                                   partial(recboles_fpmc_in_our_layout, model, theirs, users, items), rtol=1e-4,
                                   atol=1e-7)
    assert float(model.last_item.weight.grad.abs().sum()) > 0.0
