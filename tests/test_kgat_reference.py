"""RecBole's KGAT as our reference without DGL: built from the COO graph, it starts from the attention matrix its
DGL path computes (sum over relations of the row-normalised relation sub-graphs) and trains on a tiny KG."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
import torch

from paper_autotrain.runtime.knowledge import collaborative_knowledge_graph
from paper_autotrain.stages.baselines.kgat_graph import kgat_without_dgl, relation_normalised_adjacency


def test_each_relations_edges_are_row_normalised_then_summed():
    # node 0 has two edges of relation 1 and one of relation 2; relation 3's single edge; relation 0 pads
    rows, cols, rels = [0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 3, 1], [1, 1, 2, 3, 1, 0]
    graph = sp.coo_matrix((rels, (rows, cols)), shape=(4, 4))
    dense = relation_normalised_adjacency(graph, n_relations=4).to_dense().numpy()
    expected = np.zeros((4, 4))
    expected[0, 1] = expected[0, 2] = 0.5  # relation 1 from node 0: two edges
    expected[0, 3] = 1.0                   # relation 2 from node 0: one edge
    expected[1, 0] = 1.0                   # relation 3
    expected[2, 3] = 1.0                   # relation 1 from node 2
    assert np.allclose(dense, expected)    # node 3's relation-0 edge is padding: dropped


def _kg_files(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    inter = ["user_id:token\titem_id:token\ttimestamp:float"]
    for u in range(1, 7):
        for t, i in enumerate(rng.choice(np.arange(1, 9), size=4, replace=False)):
            inter.append(f"u{u}\ti{i}\t{t}")
    (folder / "toy.inter").write_text("\n".join(inter) + "\n")
    (folder / "toy.link").write_text("item_id:token\tentity_id:token\n" + "".join(f"i{i}\te{i}\n" for i in range(1, 9)))
    kg = ["head_id:token\trelation_id:token\ttail_id:token"]
    kg += [f"e{i}\tgenre\tg{i % 3}" for i in range(1, 9)] + [f"e{i}\tdirector\td{i % 2}" for i in range(1, 9, 2)]
    (folder / "toy.kg").write_text("\n".join(kg) + "\n")


def test_recboles_kgat_builds_from_the_coo_graph_with_its_starting_attention(tmp_path, monkeypatch):
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.knowledge_aware_recommender.kgat import KGAT

    _kg_files(tmp_path / "toy")
    monkeypatch.setattr(sys, "argv", ["recbole"])  # RecBole reads --key=value from the command line
    anomaly = torch.is_anomaly_enabled()
    config = Config(model="KGAT", dataset="toy", config_dict={
        "data_path": str(tmp_path), "embedding_size": 8, "kg_embedding_size": 8, "layers": [8], "epochs": 1,
        "train_batch_size": 8, "checkpoint_dir": str(tmp_path / "saved"), "show_progress": False,
        "eval_args": {"split": {"RS": [0.5, 0.25, 0.25]}, "order": "RO", "mode": "full"}, "seed": 0,
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",
    })
    torch.autograd.set_detect_anomaly(anomaly)
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    model = kgat_without_dgl(KGAT)(config, train_data._dataset)
    assert type(model).__name__ == "KGAT" and "ckg_graph" not in vars(train_data._dataset)

    # the expectation, by its definition: per relation (1..n-1) the CKG's edges of that relation, row-normalised
    coo = train_data._dataset.ckg_graph(form="coo", value_field="relation_id")
    expected = np.zeros(coo.shape)
    for relation in range(1, model.n_relations):
        block = np.zeros(coo.shape)
        for head, tail, rel in zip(coo.row, coo.col, coo.data, strict=True):
            if rel == relation:
                block[head, tail] += 1
        degree = block.sum(1, keepdims=True)
        expected += np.divide(block, degree, out=np.zeros_like(block), where=degree > 0)
    assert np.allclose(model.A_in.to_dense().numpy(), expected, atol=1e-6)
    assert expected[: dataset.user_num].sum() > 0 and expected[dataset.user_num:].sum() > 0  # both parts present

    # ckg_edges: one_way_kg and transr_triples: kg are RecBole's edges and KG-pass triples: our CKG of RecBole's own
    # ids (its padding user, entity and relation 0 kept; its KG relations 1..R-1, so ours puts interact at R - 1 =
    # its [UI-Relation]) is its CKG, and the TransR triples (relations below ours interact) its kg_feat
    train = train_data._dataset
    kg = np.stack([train.kg_feat[field].numpy() for field in (train.head_entity_field, train.relation_field,
                                                               train.tail_entity_field)], 1)
    ours = SimpleNamespace(n_users=train.user_num, n_relations=train.relation_num - 1, triples=kg, train=np.stack(
        [train.inter_feat[train.uid_field].numpy(), train.inter_feat[train.iid_field].numpy()], 1))
    heads, relations, tails, count = collaborative_knowledge_graph(ours, inverse_kg=False)
    ckg = set(zip(heads.tolist(), relations.tolist(), tails.tolist(), strict=True))
    assert ckg == set(zip(coo.row.tolist(), coo.data.tolist(), coo.col.tolist(), strict=True))
    assert count == train.relation_num  # RecBole's [PAD] relation 0 has no triple: the same relations
    kg_pass = {(h + train.user_num, r, t + train.user_num) for h, r, t in kg.tolist()}
    assert {triple for triple in ckg if triple[1] < ours.n_relations} == kg_pass

    # one BPR step and the attention update run on it as on RecBole's DGL-built model
    from recbole.utils import KGDataLoaderState

    train_data.set_mode(KGDataLoaderState.RS)
    interaction = next(iter(train_data))
    loss = model.calculate_loss(interaction)
    loss.backward()
    model.update_attentive_A()
    assert torch.isfinite(loss) and model.A_in.shape == torch.Size(coo.shape)
