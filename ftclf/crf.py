"""A linear-chain conditional random field over per-token emission scores.

Trained by the forward-algorithm negative log-likelihood, decoded by Viterbi, with
forward-backward marginals for per-token confidences. Transitions can be constrained
(``allowed_start`` / ``allowed_transitions``, e.g. ``ftclf.iob.crf_constraints``) so that decoding
never yields an invalid IOB2 sequence (O -> I-X or B-X -> I-Y). Shapes: emissions (batch,
seq_len, num_tags), tags and mask (batch, seq_len); masks are left-aligned (every sequence starts
at position 0).
"""

from __future__ import annotations

import torch
from torch import nn

#: Score added to a forbidden transition: far below any learned score, yet finite (no NaNs).
FORBIDDEN = -10000.0


class CRF(nn.Module):
    def __init__(
        self,
        num_tags: int,
        allowed_start: torch.Tensor | None = None,
        allowed_transitions: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"expected num_tags >= 1, got {num_tags}")
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        start_ok = torch.ones(num_tags, dtype=torch.bool) if allowed_start is None else torch.as_tensor(allowed_start)
        trans_ok = (torch.ones(num_tags, num_tags, dtype=torch.bool) if allowed_transitions is None
                    else torch.as_tensor(allowed_transitions))
        self.register_buffer("start_penalty", (~start_ok.bool()).float() * FORBIDDEN)
        self.register_buffer("transition_penalty", (~trans_ok.bool()).float() * FORBIDDEN)

    # Effective (constrained) scores.
    def _start(self) -> torch.Tensor:
        return self.start_transitions + self.start_penalty

    def _trans(self) -> torch.Tensor:
        return self.transitions + self.transition_penalty

    def _check(self, emissions: torch.Tensor, mask: torch.Tensor | None, tags: torch.Tensor | None = None) -> torch.Tensor:
        if emissions.dim() != 3 or emissions.size(2) != self.num_tags:
            raise ValueError(
                f"expected emissions of shape (batch, seq_len, {self.num_tags}), got {tuple(emissions.shape)}"
            )
        if mask is None:
            mask = torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        if mask.shape != emissions.shape[:2]:
            raise ValueError(f"expected mask of shape {tuple(emissions.shape[:2])}, got {tuple(mask.shape)}")
        if tags is not None and tags.shape != emissions.shape[:2]:
            raise ValueError(f"expected tags of shape {tuple(emissions.shape[:2])}, got {tuple(tags.shape)}")
        mask = mask.bool()
        if emissions.size(1) and not mask[:, 0].all():
            raise ValueError("expected every sequence's first position to be unmasked, got a masked one")
        return mask

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unnormalised score of the given tag paths -> (batch,)."""
        start, trans = self._start(), self._trans()
        maskf = mask.to(emissions.dtype)
        first = tags[:, 0]
        total = start[first] + emissions[:, 0].gather(1, first.unsqueeze(1)).squeeze(1)
        for t in range(1, emissions.size(1)):
            step = trans[tags[:, t - 1], tags[:, t]] + emissions[:, t].gather(1, tags[:, t : t + 1]).squeeze(1)
            total = total + step * maskf[:, t]
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)
        return total + self.end_transitions[last]

    def _alphas(self, emissions: torch.Tensor, mask: torch.Tensor, temperature=1.0) -> list[torch.Tensor]:
        """Forward variables alpha_t (batch, num_tags) for every t (carried past a sequence's end);
        ``emissions`` already divided by ``temperature``, the transition scores divided here."""
        trans = self._trans() / temperature
        alpha = self._start() / temperature + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, emissions.size(1)):
            # shape: (batch, from, to) -> logsumexp over from
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t : t + 1], nxt, alpha)
            alphas.append(alpha)
        return alphas

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log Z for each sequence -> (batch,)."""
        mask = self._check(emissions, mask)
        return torch.logsumexp(self._alphas(emissions, mask)[-1] + self.end_transitions, dim=1)

    def neg_log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None, reduction: str = "mean"
    ) -> torch.Tensor:
        """-log p(tags | emissions); padded tag positions may hold any value (e.g. -100)."""
        mask = self._check(emissions, mask, tags)
        tags = torch.where(mask, tags, torch.zeros_like(tags))
        if (tags < 0).any() or (tags >= self.num_tags).any():
            raise ValueError(f"expected tags in [0, {self.num_tags}) at unmasked positions")
        nll = self.log_partition(emissions, mask) - self.score(emissions, tags, mask)
        if reduction == "mean":
            return nll.mean()
        if reduction == "sum":
            return nll.sum()
        if reduction == "none":
            return nll
        raise ValueError(f"expected reduction 'mean', 'sum' or 'none', got {reduction!r}")

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[int]]:
        """Viterbi: the best tag path of each sequence, as many tags as unmasked positions."""
        mask = self._check(emissions, mask)
        trans = self._trans()
        score = self._start() + emissions[:, 0]
        backpointers = []
        for t in range(1, emissions.size(1)):
            cand = score.unsqueeze(2) + trans.unsqueeze(0)  # shape: (batch, from, to)
            best, idx = cand.max(dim=1)
            backpointers.append(idx)
            score = torch.where(mask[:, t : t + 1], best + emissions[:, t], score)
        score = score + self.end_transitions
        lengths = mask.sum(1).tolist()
        paths = []
        for b, length in enumerate(lengths):
            tag = int(score[b].argmax())
            path = [tag]
            for t in range(length - 1, 0, -1):
                tag = int(backpointers[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths

    @torch.no_grad()
    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor | None = None, temperature=1.0) -> torch.Tensor:
        """p(tag_t = k | emissions) by forward-backward -> (batch, seq_len, num_tags), 0 where masked."""
        mask = self._check(emissions, mask)
        return self.log_marginals(emissions, mask, temperature).exp() * mask.unsqueeze(-1).to(emissions.dtype)

    def log_marginals(self, emissions: torch.Tensor, mask: torch.Tensor | None = None, temperature=1.0) -> torch.Tensor:
        """log p(tag_t = k | emissions) by forward-backward, differentiable (distillation trains a CRF
        student on a teacher's per-word distributions through it; calibration fits ``temperature``, which
        divides every emission and transition score) -> (batch, seq_len, num_tags); rows at masked
        positions are meaningless. The Viterbi path is the same at every temperature."""
        mask = self._check(emissions, mask)
        emissions = emissions / temperature
        trans = self._trans() / temperature
        end = self.end_transitions / temperature
        alphas = self._alphas(emissions, mask, temperature)
        log_z = torch.logsumexp(alphas[-1] + end, dim=1)
        seq_len = emissions.size(1)
        beta = end.expand_as(alphas[0])
        betas = [beta]
        for t in range(seq_len - 2, -1, -1):
            # shape: (batch, from, to) -> logsumexp over to
            nxt = torch.logsumexp(trans.unsqueeze(0) + (emissions[:, t + 1] + beta).unsqueeze(1), dim=2)
            beta = torch.where(mask[:, t + 1 : t + 2], nxt, end.expand_as(nxt))
            betas.append(beta)
        betas = betas[::-1]
        return torch.stack([a + b for a, b in zip(alphas, betas)], dim=1) - log_z[:, None, None]
