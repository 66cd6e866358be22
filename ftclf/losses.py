"""The soft half of knowledge distillation (Hinton, Vinyals and Dean, 2015): T^2 * KL between a teacher's
and a student's label distributions, each tempered. A task's ``distillation_loss`` calls it
(``ftclf.training.distill`` trains with it)."""

from __future__ import annotations

import torch

#: probabilities are clamped here before their log (a teacher's hard zeros stay finite)
EPS = 1e-8
#: a student log-probability below this is structurally impossible (a CRF's forbidden tag: about -10,000)
IMPOSSIBLE = -1000.0


def tempered(log_p: torch.Tensor, temperature: float) -> torch.Tensor:
    """log of p^(1/T) renormalised (log-softmax of log p / T)."""
    return (log_p / temperature).log_softmax(-1)


def soft_loss(student_log_p: torch.Tensor, teacher_p: torch.Tensor, temperature: float,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """T^2 * KL(teacher_T || student_T), averaged over the rows (the real words of per-word tasks).

    Labels the student cannot give at all there (a CRF's forbidden tags, such as ``I-X`` on a first
    word: log-probability below ``IMPOSSIBLE``) are taken out of the teacher's row, which is
    renormalised over the rest: no parameter can move them, so they would only add a constant of
    thousands to the loss and push the emissions of tags the constraints remove anyway."""
    possible = student_log_p > IMPOSSIBLE
    t_log = tempered(teacher_p.clamp_min(EPS).log().masked_fill(~possible, IMPOSSIBLE), temperature)
    s_log = tempered(student_log_p.masked_fill(~possible, IMPOSSIBLE), temperature)
    kl = (t_log.exp() * (t_log - s_log)).sum(-1)  # impossible labels weigh exp(IMPOSSIBLE / T): nothing
    # padding words and words the teacher did not read carry zeros (or mass only where the student has none)
    known = (teacher_p * possible).sum(-1) > 0
    kl = kl[known if mask is None else known & mask]
    return kl.mean() * temperature**2 if kl.numel() else student_log_p.sum() * 0.0
