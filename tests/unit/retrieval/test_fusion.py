"""Fusion of dense and BM25 scores (retrieval/fusion.py): candidates, z-score and RRF, pessimistic hybrid ranks."""

from __future__ import annotations

import numpy as np

from banglasim.retrieval.fusion import FusionSettings, candidate_rows, fuse, hybrid_ranks, top_rows


def test_top_rows_is_best_first_with_ties_by_row():
    assert top_rows(np.array([0.5, 0.9, 0.5, 0.1]), 3).tolist() == [1, 0, 2]


def test_candidates_are_the_union_of_each_retrievers_top():
    dense, lexical = np.array([0.9, 0.8, 0.1, 0.0]), np.array([0.0, 0.0, 3.0, 2.0])
    assert candidate_rows(dense, lexical, 1).tolist() == [0, 2]
    assert candidate_rows(dense, None, 2).tolist() == [0, 1]


def test_zscore_weights_move_the_ranking_from_bm25_to_dense():
    dense, lexical = np.array([0.9, 0.5, 0.1]), np.array([0.0, 1.0, 5.0])
    assert int(np.argmax(fuse(dense, lexical, FusionSettings("zscore", 1.0)))) == 0
    assert int(np.argmax(fuse(dense, lexical, FusionSettings("zscore", 0.0)))) == 2
    assert fuse(dense, None, FusionSettings()).tolist() == dense.tolist()  # no BM25 terms: dense alone


def test_rrf_is_the_weighted_sum_of_reciprocal_ranks():
    dense, lexical = np.array([0.9, 0.5]), np.array([1.0, 2.0])
    fused = fuse(dense, lexical, FusionSettings("rrf", 0.5, rrf_k=60))
    assert np.allclose(fused, [0.5 / 61 + 0.5 / 62, 0.5 / 62 + 0.5 / 61])


def test_hybrid_ranks_are_pessimistic_and_a_passage_outside_the_candidates_ranks_last():
    dense = np.array([[0.9, 0.9, 0.1, 0.0], [0.9, 0.8, 0.7, 0.0]])
    lexical = [None, np.array([0.0, 0.0, 0.0, 0.0])]
    settings = FusionSettings("zscore", 0.5, candidates=2)
    ranks = hybrid_ranks(dense, lexical, np.array([1, 3]), settings)
    assert ranks.tolist() == [2, 5]  # a tie with the right passage counts against it; row 3 is no candidate
