#!/usr/bin/env python3
"""Logits of BlinkDL's own implementation (the `rwkv` PyPI package, 0.8.32) for aviary's test models.

Usage: reference_logits.py DIR OUT.json

DIR holds `manifest.json` and the .pth files it names, written by aviary's seeded generator:
    cargo test --test blinkdl_reference -- --ignored write_reference_inputs
(AVIARY_BLINKDL_DIR picks the folder). The manifest lists the token ids, the positions to keep,
and the cases: {"name", "version": "v4".."v7", "dtype": "f32"|"f16"|"bf16", "model": FILE,
"state": FILE or null}. For f16/bf16 checkpoints the script also runs the same weights widened to f32
(`logits_widened_to_f32`), since the RWKV-4/5/6 class applies ln0 to the embedding in the stored dtype.

Every case runs in its own Python process, because the package decides at import time whether
`RWKV` is the RWKV-7 class (RWKV_V7_ON=1) or the RWKV-4/5/6 one. The package is used as its README
says: RWKV_JIT_ON=0, RWKV_CUDA_ON=0, RWKV(model, strategy='cpu fp32'), forward(tokens, state,
full_output=True). Its RWKV-5/6 GroupNorm uses eps = 64e-5 (hard-coded in model.py).

State-tuning files (`blocks.N.att.time_state`, (H, N, N) per layer) are applied the way BlinkDL's
code does: for RWKV-5/6 merged into the model's state dict, which the package itself turns into its
initial state (`time_state.transpose(1, 2)`); the RWKV-7 class has no such path, so the script
builds that state the way ChatRWKV's chat scripts do (`state[i*3+1] = time_state.transpose(1, 2)`).
"""
import json
import os
import subprocess
import sys
import tempfile


def run_case(case, manifest, folder, out_path):
    import torch  # noqa: imported after the environment is set
    import rwkv
    from rwkv.model import RWKV

    tokens = manifest["tokens"]
    model_path = os.path.join(folder, case["model"])
    state_raw = torch.load(os.path.join(folder, case["state"]), map_location="cpu") if case.get("state") else None
    with torch.no_grad():
        if case["version"] == "v7":
            # The v7 class appends '.pth' itself.
            model = RWKV(model=model_path[: -len(".pth")], strategy="cpu fp32")
            state = None
            if state_raw is not None:
                state = model.generate_zero_state()
                for i in range(model.n_layer):
                    state[i * 3 + 1] = state_raw[f"blocks.{i}.att.time_state"].transpose(1, 2).float().contiguous()
            detected = 7.0
        else:
            if state_raw is not None:
                merged = torch.load(model_path, map_location="cpu")
                merged.update(state_raw)
                model_path = os.path.join(tempfile.mkdtemp(), "merged.pth")
                torch.save(merged, model_path)
            model = RWKV(model=model_path, strategy="cpu fp32")
            state = None
            detected = float(model.version)
        logits, _ = model.forward(tokens, state, full_output=True)
        logits = logits.float().reshape(len(tokens), -1)
        # Serial run (one token per call), to state how far BlinkDL's own two paths are apart.
        if case["version"] == "v7" and state_raw is not None:
            state = model.generate_zero_state()
            for i in range(model.n_layer):
                state[i * 3 + 1] = state_raw[f"blocks.{i}.att.time_state"].transpose(1, 2).float().contiguous()
        else:
            state = None
        serial_diff = 0.0
        for t, tok in enumerate(tokens):
            out, state = model.forward([tok], state)
            serial_diff = max(serial_diff, (out.float() - logits[t]).abs().max().item())
    keep = lambda rows: {str(p): [float("%.8g" % v) for v in rows[p].tolist()] for p in manifest["positions"]}
    result = {
        "name": case["name"],
        "detected_version": detected,
        "serial_vs_sequence_max_abs_diff": serial_diff,
        "logits": keep(logits),
        "torch": torch.__version__,
        "rwkv": getattr(rwkv, "__version__", "0.8.32"),
    }
    if case.get("dtype", "f32") != "f32" and state_raw is None:
        # The v4-6 class applies ln0 to the embedding before widening the weights, so in the
        # checkpoint's dtype ('precompute embedding' in model.py); the same weights widened to f32
        # first show what the rest of the math gives.
        widened = {k: v.float() for k, v in torch.load(os.path.join(folder, case["model"]), map_location="cpu").items()}
        wide_path = os.path.join(tempfile.mkdtemp(), "widened.pth")
        torch.save(widened, wide_path)
        with torch.no_grad():
            wide = RWKV(model=wide_path[: -len(".pth")] if case["version"] == "v7" else wide_path, strategy="cpu fp32")
            wide_logits, _ = wide.forward(tokens, None, full_output=True)
        result["logits_widened_to_f32"] = keep(wide_logits.float().reshape(len(tokens), -1))
    with open(out_path, "w") as f:
        json.dump(result, f)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--case":
        folder, name, out_path = sys.argv[2], sys.argv[3], sys.argv[4]
        manifest = json.load(open(os.path.join(folder, "manifest.json")))
        case = next(c for c in manifest["cases"] if c["name"] == name)
        run_case(case, manifest, folder, out_path)
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    folder, out = sys.argv[1], sys.argv[2]
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    results = []
    for case in manifest["cases"]:
        env = dict(os.environ, RWKV_JIT_ON="0", RWKV_CUDA_ON="0", RWKV_V7_ON="1" if case["version"] == "v7" else "0")
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            tmp_path = tmp.name
        subprocess.run([sys.executable, __file__, "--case", folder, case["name"], tmp_path], env=env, check=True, stdout=sys.stderr)
        results.append(json.load(open(tmp_path)))
        print(f"{case['name']}: v{results[-1]['detected_version']}, package serial vs sequence {results[-1]['serial_vs_sequence_max_abs_diff']:.3g}", file=sys.stderr)
    doc = {
        "about": "logits of the rwkv package 0.8.32 (RWKV_JIT_ON=0, RWKV_CUDA_ON=0, strategy 'cpu fp32') for aviary's seeded test checkpoints; made by tools/blinkdl-reference/reference_logits.py",
        "tokens": manifest["tokens"],
        "positions": manifest["positions"],
        "cases": results,
    }
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
