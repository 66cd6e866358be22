"""CRF against brute-force enumeration of every tag path."""

import itertools

import pytest
import torch

from ftclf.crf import CRF
from ftclf.iob import crf_constraints, invalid_transitions

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def path_score(crf, emissions, tags):
    start, trans = crf._start(), crf._trans()
    s = start[tags[0]] + emissions[0, tags[0]]
    for t in range(1, len(tags)):
        s = s + trans[tags[t - 1], tags[t]] + emissions[t, tags[t]]
    return s + crf.end_transitions[tags[-1]]


def make(constrained: bool, seed: int = 0):
    torch.manual_seed(seed)
    crf = CRF(len(LABELS), *(map(torch.tensor, crf_constraints(LABELS)) if constrained else (None, None)))
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start_transitions.normal_()
        crf.end_transitions.normal_()
    return crf


@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition_nll_viterbi_marginals_match_brute_force(constrained):
    crf = make(constrained)
    lengths = [4, 2, 3]
    emissions = torch.randn(3, 4, len(LABELS)) * 2
    mask = torch.tensor([[t < n for t in range(4)] for n in lengths])
    tags = torch.randint(0, len(LABELS), (3, 4))
    log_z = crf.log_partition(emissions, mask)
    nll = crf.neg_log_likelihood(emissions, tags, mask, reduction="none")
    best = crf.decode(emissions, mask)
    marg = crf.marginals(emissions, mask)
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(len(LABELS)), repeat=n))
        scores = torch.stack([path_score(crf, emissions[b, :n], p) for p in paths])
        brute_z = torch.logsumexp(scores, 0)
        assert log_z[b].item() == pytest.approx(brute_z.item(), abs=1e-4)
        gold = tags[b, :n].tolist()
        assert nll[b].item() == pytest.approx((brute_z - path_score(crf, emissions[b, :n], gold)).item(), abs=1e-4)
        assert best[b] == list(paths[int(scores.argmax())])
        probs = (scores - brute_z).exp()
        for t in range(n):
            for k in range(len(LABELS)):
                expected = sum(p for p, path in zip(probs.tolist(), paths) if path[t] == k)
                assert marg[b, t, k].item() == pytest.approx(expected, abs=1e-5)
        assert marg[b, n:].abs().sum() == 0


def test_constrained_decoding_never_yields_invalid_iob2():
    crf = make(True, seed=1)
    # Emissions that strongly prefer invalid sequences (I- tags everywhere).
    emissions = torch.zeros(4, 6, len(LABELS))
    emissions[..., 2] = 5.0
    emissions[..., 4] = 4.0
    for path in crf.decode(emissions + torch.randn_like(emissions)):
        tags = [LABELS[i] for i in path]
        assert invalid_transitions(tags) == 0, tags


@pytest.mark.parametrize("pad_tag", [-100, 0, 3])
def test_padding_tags_and_emissions_are_ignored(pad_tag):
    """A padded sequence's loss and gradients equal those of the same sequence alone, whatever the
    padded positions hold, and its loss equals the brute-force -log p(tags)."""
    crf = make(True, seed=2)
    n, padded_len = 3, 5
    emissions = torch.randn(1, padded_len, len(LABELS)) * 2
    emissions[0, n:] = torch.randn(padded_len - n, len(LABELS)) * 50  # garbage that would dominate if read
    tags = torch.tensor([[1, 2, 0] + [pad_tag] * (padded_len - n)])
    mask = torch.tensor([[t < n for t in range(padded_len)]])

    padded = emissions.clone().requires_grad_(True)
    nll_padded = crf.neg_log_likelihood(padded, tags, mask, reduction="sum")
    nll_padded.backward()
    grad_padded = crf.transitions.grad.clone(), crf.start_transitions.grad.clone(), crf.end_transitions.grad.clone()
    crf.zero_grad()

    alone = emissions[:, :n].clone().requires_grad_(True)
    nll_alone = crf.neg_log_likelihood(alone, tags[:, :n], reduction="sum")
    nll_alone.backward()
    grad_alone = crf.transitions.grad, crf.start_transitions.grad, crf.end_transitions.grad

    paths = itertools.product(range(len(LABELS)), repeat=n)
    brute_z = torch.logsumexp(torch.stack([path_score(crf, emissions[0, :n], p) for p in paths]), 0)
    brute_nll = brute_z - path_score(crf, emissions[0, :n], [1, 2, 0])
    assert nll_padded.item() == pytest.approx(nll_alone.item(), abs=1e-4)
    assert nll_padded.item() == pytest.approx(brute_nll.item(), abs=1e-4)
    assert torch.allclose(padded.grad[:, :n], alone.grad, atol=1e-5)
    assert padded.grad[:, n:].abs().sum() == 0  # no gradient reaches the padding
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grad_padded, grad_alone))


def test_shape_errors_are_explained():
    crf = CRF(3)
    with pytest.raises(ValueError, match=r"expected emissions of shape \(batch, seq_len, 3\), got \(2, 4\)"):
        crf.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="expected mask of shape"):
        crf.decode(torch.zeros(2, 4, 3), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="first position to be unmasked"):
        crf.decode(torch.zeros(1, 2, 3), torch.tensor([[False, True]]))
