"""The gradio-free service the dashboard calls: the head store, samples, training jobs.

``access.py`` (who may change what: read-only mode, visitors, quotas), ``assets.py`` (where shipped and user heads are), ``store.py`` (heads by name), ``jobs.py`` (data
sources, preview, training runs in worker threads); the samples (built-in data) are ``ftclf.samples``.
"""

from ..samples import Sample, sample, samples
from .access import AccessDenied, Policy, new_visitor_id, owner_key, policy, visitor_secret
from .assets import shipped_heads_dir, user_heads_dir
from .drafts import Draft, Drafts, drafts_dir
from .jobs import MAX_UPLOAD_BYTES, DataSource, Job, TrainingJobs, TrainOutcome, TrainRequest, run_training
from .store import NAME_RE, HeadInfo, HeadStore

__all__ = [
    "MAX_UPLOAD_BYTES", "NAME_RE", "AccessDenied", "Policy", "new_visitor_id", "owner_key", "policy", "visitor_secret", "DataSource", "Draft", "Drafts", "drafts_dir", "HeadInfo", "HeadStore", "Job", "Sample", "TrainOutcome",
    "TrainRequest", "TrainingJobs", "run_training", "sample", "samples", "shipped_heads_dir", "user_heads_dir",
]
