"""How faithful the app's int8 encoder is to fp32, and what makes it so.

    python benchmarks/int8_fidelity.py [HEAD ...]      # default: the four shipped heads

For each shipped head, on its whole validation split (../shared/data or $FTCLF_DATA): the fp32 figure,
then four ONNX int8 exports of its encoder — dynamic int8 (activations quantized per call) with s8
weights unsmoothed (ONNX Runtime's default weight type), u8 weights unsmoothed, u8 weights with inputs
smoothed with SMOOTH_ALPHA, and ftclf's export (weight-only int8: 8-bit MatMulNBits, fp32 compute) —
each with its figure, its shift from fp32, how many examples it decodes differently from fp32, and the
largest and mean |difference| of its calibrated probabilities from fp32's (every probability of every
example; per word for the NER head). Then the int8 reconstruction error of the up-projections on the
calibration text (the built-in samples) per smoothing strength, the criterion SMOOTH_ALPHA was chosen
by. The s8 export's figures depend on the CPU (16-bit saturation without VNNI); the others do not.
Prints tables and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe

HEADS = ["paraphrase-mrpc", "nli-sick", "ner-conll2003", "sentiment-sst2"]
EXPORTS = {"dynamic, s8, unsmoothed": {"int8": "dynamic", "weights": "s8", "smooth_alpha": None},
           "dynamic, u8, unsmoothed": {"int8": "dynamic", "weights": "u8", "smooth_alpha": None},
           "dynamic, u8, smoothed": {"int8": "dynamic"},
           "weight-only (ftclf)": {}}
ALPHAS = (None, 0.5, 0.65, 0.8, 0.9)


def onnx_classifier(directory: Path, folder: Path, **recipe):
    """The head at ``directory`` on an int8 ONNX export of its encoder made with ``recipe``."""
    from ftclf import format
    from ftclf.encoders import Encoder
    from ftclf.model import Classifier
    from ftclf.serving.backends import OnnxEncoder, export_onnx

    meta = format.read_metadata(directory)
    clf = Classifier.from_pretrained(directory, merged=True)
    path = export_onnx(clf.encoder, folder, quantize=True, tokenizer=clf.tokenizer, **recipe)
    encoder = Encoder(meta.encoder.name, OnnxEncoder(path, clf.encoder.config), clf.tokenizer, meta.encoder.fingerprint)
    return Classifier.assemble(meta, encoder, format.read_head_state(directory, meta))


def fidelity(name: str, tmp: Path) -> dict:
    import torch

    from ftclf import Classifier
    from ftclf.evaluation import decode_examples, score
    from ftclf.service import shipped_heads_dir

    directory = shipped_heads_dir() / name
    reference = Classifier.from_pretrained(directory)
    key = reference.metrics["main_metric"]
    _, val = heads_recipe.recipe(name).load(heads_recipe.DATA)
    examples, decoded = decode_examples(reference, val)
    fp32 = score(reference, examples, decoded)[key]
    row = {"metric": key, "examples": len(examples), "fp32": fp32}
    exact = torch.cat([d.probs.reshape(-1) for d in decoded])
    for label, recipe in EXPORTS.items():
        clf = onnx_classifier(directory, tmp / f"{name}-{len(row)}", **recipe)
        _, got = decode_examples(clf, val)
        value = score(clf, examples, got)[key]
        gap = (torch.cat([d.probs.reshape(-1) for d in got]) - exact).abs()
        row[label] = {"value": value, "shift": value - fp32, "differ": sum(a.ids != b.ids for a, b in zip(decoded, got)),
                      "max_gap": float(gap.max()), "mean_gap": float(gap.mean())}
    return row


def reconstruction(name: str) -> dict:
    """Relative int8 error (||int8 - fp32|| / ||fp32||) of the up-projections on the calibration
    text, mean over layers, per smoothing strength (None: unsmoothed)."""
    from ftclf import Classifier
    from ftclf.service import shipped_heads_dir
    from ftclf.serving.backends import smooth_for_int8
    from ftclf.serving.int8_text import calibration_batches

    clf = Classifier.from_pretrained(shipped_heads_dir() / name, merged=True)
    batches = calibration_batches(clf.tokenizer, ["input_ids", "attention_mask", "token_type_ids"])
    return {"none" if alpha is None else str(alpha):
            up_projection_error(clf.encoder if alpha is None else smooth_for_int8(clf.encoder, batches, alpha), batches)
            for alpha in ALPHAS}


def up_projection_error(encoder, batches) -> float:
    """Mean over the up-projections (smoothed or not) of their relative int8 error on ``batches``."""
    import torch

    from ftclf.serving.backends import ScaledInput

    linears = {n: (m.linear if isinstance(m, ScaledInput) else m) for n, m in encoder.named_modules()
               if isinstance(m, (ScaledInput, torch.nn.Linear)) and not n.endswith(".linear")}  # not a wrapped one again
    ups = {n: m for n, m in encoder.named_modules() if n in linears and linears[n].out_features > linears[n].in_features}
    sums = {n: [0.0, 0.0] for n in ups}

    def record(module, inputs, output, name):
        x = inputs[0] * module.inverse if isinstance(module, ScaledInput) else inputs[0]
        x, weight = x.reshape(-1, x.shape[-1]).double(), linears[name].weight.double()
        exact = x @ weight.T  # activations quantized per batch, as at serving time
        sums[name][0] += ((_u8(x) @ _u8(weight, 1).T - exact).norm() ** 2).item()
        sums[name][1] += (exact.norm() ** 2).item()

    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: record(mod, i, o, n)) for n, m in ups.items()]
    with torch.no_grad():
        for batch in batches:
            encoder(**batch)
    for hook in hooks:
        hook.remove()
    ratios = [(err / ref) ** 0.5 for err, ref in sums.values()]
    return sum(ratios) / len(ratios)


def _u8(t, dim=None):
    """Asymmetric u8 fake quantization, per tensor or per slice along ``dim``."""
    import torch

    lo = (t.amin(dim, keepdim=True) if dim is not None else t.min()).clamp(max=0)
    hi = (t.amax(dim, keepdim=True) if dim is not None else t.max()).clamp(min=0)
    scale = (hi - lo) / 255
    zero = torch.round(-lo / scale)
    return (torch.clamp(torch.round(t / scale) + zero, 0, 255) - zero) * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("heads", nargs="*", default=HEADS, help="shipped head names")
    args = parser.parse_args()
    rows, errors = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.heads:
            rows[name] = fidelity(name, Path(tmp))
            errors[name] = reconstruction(name)
    print("\n| head | metric | fp32 | " + " | ".join(EXPORTS) + " |")
    print("|---|---|---|" + "---|" * len(EXPORTS))
    for name, row in rows.items():
        cells = [f"{100 * row[k]['value']:.2f} ({100 * row[k]['shift']:+.2f}; {row[k]['differ']} of {row['examples']} differ)"
                 for k in EXPORTS]
        print(f"| {name} | {row['metric']} | {100 * row['fp32']:.2f} | " + " | ".join(cells) + " |")
    print("\nCalibrated probabilities against fp32's, largest / mean |difference| over the whole validation split:\n")
    print("| head | " + " | ".join(EXPORTS) + " |")
    print("|---|" + "---|" * len(EXPORTS))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[k]['max_gap']:.3f} / {row[k]['mean_gap']:.4f}" for k in EXPORTS) + " |")
    print("\nInt8 error of the up-projections on the calibration text, by smoothing strength (mean over layers):\n")
    print("| head | " + " | ".join(f"alpha={a}" if a is not None else "unsmoothed" for a in ALPHAS) + " |")
    print("|---|" + "---|" * len(ALPHAS))
    for name, row in errors.items():
        print(f"| {name} | " + " | ".join(f"{100 * v:.2f}%" for v in row.values()) + " |")
    print(json.dumps({"fidelity": rows, "reconstruction": errors}))


if __name__ == "__main__":
    main()
