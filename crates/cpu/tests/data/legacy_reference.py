#!/usr/bin/env python3
"""Float64 reference logits for rwkv.cpp's tiny RWKV-4, 5.1, 5.2 and 6 test models.

Written from the spec (rwkv-gguf-spec.md §5, §7) independently of aviary's Rust code: it reads the
legacy files directly (numpy; gguf-py's dequantizer for Q5_1), undoes rwkv.cpp's converter transforms
and runs the model token by token (RNN mode) in float64 from a zero state. RWKV-5 GroupNorm uses
eps 1e-5 (what rwkv.cpp computes with), RWKV-6 64e-5.

    python3 legacy_reference.py ../shared/fixtures > legacy-reference-logits.json

Keeps the logits of a few positions to stay small. Needs numpy and gguf (PyPI).
"""
import json, struct, sys
import numpy as np
from gguf.quants import dequantize
from gguf import GGMLQuantizationType as Q

TEXT = b'"in the year 2025, RWKV-7'
POSITIONS = [0, 1, 2, 12, 24]
MODELS = ["tiny-rwkv-4v0-660K-FP32.bin", "tiny-rwkv-5v1-730K-FP32.bin", "tiny-rwkv-5v2-730K-FP32.bin", "tiny-rwkv-6v0-3m-Q5_1.bin"]
BLOCK = {0: (1, 4, None), 1: (1, 2, None), 7: (32, 22, Q.Q5_0), 8: (32, 24, Q.Q5_1), 9: (32, 34, Q.Q8_0)}


def read(path):
    b = open(path, 'rb').read()
    o, w = 24, {}
    while o < len(b):
        nd, kl, ty = struct.unpack_from('<3i', b, o); o += 12
        dims = struct.unpack_from('<%di' % nd, b, o); o += 4 * nd
        name = b[o:o + kl].decode(); o += kl
        n = int(np.prod(dims)); bs, by, q = BLOCK[ty]; nb = n // bs * by
        raw = np.frombuffer(b, dtype=np.uint8, count=nb, offset=o); o += nb
        if ty == 0: a = raw.view('<f4')
        elif ty == 1: a = raw.view('<f2')
        else: a = dequantize(raw.reshape(-1, dims[0] // bs * by), q)
        w[name] = a.astype(np.float64).reshape(tuple(reversed(dims)))
    return w


def layer_norm(x, w, b, eps=1e-5):
    m = x.mean(); v = ((x - m) ** 2).mean()
    return (x - m) / np.sqrt(v + eps) * w + b


def group_norm(x, w, b, n, eps):
    h = x.reshape(-1, n); m = h.mean(1, keepdims=True); v = ((h - m) ** 2).mean(1, keepdims=True)
    return ((h - m) / np.sqrt(v + eps)).reshape(-1) * w + b


sig = lambda x: 1 / (1 + np.exp(-x))


def run(w):
    att = lambda l, s: w[f'blocks.{l}.att.{s}']
    ffn = lambda l, s: w[f'blocks.{l}.ffn.{s}']
    L = 1 + max(int(k.split('.')[1]) for k in w if k.startswith('blocks.'))
    C = w['emb.weight'].shape[1]
    if 'blocks.0.att.time_maa_x' in w: ver = 6
    elif 'blocks.0.att.ln_x.weight' in w: ver = 5.2 if 'blocks.0.att.gate.weight' in w else 5.1
    else: ver = 4
    if ver == 5.1: H = att(0, 'time_decay').size; N = C // H
    elif ver in (5.2, 6): H, N = att(0, 'time_decay').shape[:2]
    else: H, N = 0, 0
    st = [dict(xa=np.zeros(C), xf=np.zeros(C), S=np.zeros((H, N, N)), aa=np.zeros(C), bb=np.zeros(C), pp=np.zeros(C)) for _ in range(L)]
    out = []
    for tok in TEXT:
        x = layer_norm(w['emb.weight'][tok], w['blocks.0.ln0.weight'], w['blocks.0.ln0.bias'])
        for l in range(L):
            s = st[l]
            p = lambda n: w[f'blocks.{l}.{n}']
            xa = layer_norm(x, p('ln1.weight'), p('ln1.bias')); prev = s['xa']; s['xa'] = xa
            if ver == 6:
                d = prev - xa
                m = np.tanh(att(l, 'time_maa_w1') @ (xa + d * att(l, 'time_maa_x')))
                D = m.size // 5; w2 = att(l, 'time_maa_w2')  # (5, C, D)
                mix = {c: xa + d * (att(l, 'time_maa_' + c) + w2[j] @ m[j * D:(j + 1) * D]) for j, c in enumerate('wkvrg')}
                decay = np.exp(-np.exp(att(l, 'time_decay').reshape(-1) + att(l, 'time_decay_w2') @ np.tanh(att(l, 'time_decay_w1') @ mix['w'])))
                u = att(l, 'time_faaaa').reshape(-1)
            else:
                mix = {c: xa * att(l, 'time_mix_' + c) + prev * (1 - att(l, 'time_mix_' + c)) for c in 'kvr' + ('g' if ver == 5.2 else '')}
            r = att(l, 'receptance.weight') @ mix['r']; k = att(l, 'key.weight') @ mix['k']; v = att(l, 'value.weight') @ mix['v']
            if ver == 4:
                # rwkv.cpp stores -exp(time_decay) for v4.
                wd, u = att(l, 'time_decay').reshape(-1), att(l, 'time_first').reshape(-1)
                aa, bb, pp = s['aa'], s['bb'], s['pp']
                q = np.maximum(pp, u + k); e1, e2 = np.exp(pp - q), np.exp(u + k - q)
                y = (e1 * aa + e2 * v) / (e1 * bb + e2)
                q2 = np.maximum(pp + wd, k); e1, e2 = np.exp(pp + wd - q2), np.exp(k - q2)
                s['aa'], s['bb'], s['pp'] = e1 * aa + e2 * v, e1 * bb + e2, q2
                y = sig(r) * y
            else:
                if ver != 6:
                    # rwkv.cpp stores v5's decay as exp(-exp(time_decay)) and 5.1's time_first as exp(time_first).
                    decay = np.repeat(att(l, 'time_decay').reshape(-1), C // att(l, 'time_decay').size)
                    u = att(l, 'time_faaaa').reshape(-1) if ver == 5.2 else np.repeat(att(l, 'time_first').reshape(-1), N)
                y = np.zeros(C)
                for h in range(H):
                    sl = slice(h * N, (h + 1) * N); kv = np.outer(k[sl], v[sl])
                    y[sl] = r[sl] @ (u[sl][:, None] * kv + s['S'][h])
                    s['S'][h] = s['S'][h] * decay[sl][:, None] + kv
                y = group_norm(y, att(l, 'ln_x.weight'), att(l, 'ln_x.bias'), N, 64e-5 if ver == 6 else 1e-5)
                if ver in (5.2, 6):
                    g = att(l, 'gate.weight') @ mix['g']; y = y * g * sig(g)
            x = x + att(l, 'output.weight') @ y
            xf = layer_norm(x, p('ln2.weight'), p('ln2.bias')); prev = s['xf']; s['xf'] = xf
            if ver == 6:
                xk = xf + (prev - xf) * ffn(l, 'time_maa_k'); xr = xf + (prev - xf) * ffn(l, 'time_maa_r')
            else:
                xk = xf * ffn(l, 'time_mix_k') + prev * (1 - ffn(l, 'time_mix_k')); xr = xf * ffn(l, 'time_mix_r') + prev * (1 - ffn(l, 'time_mix_r'))
            x = x + sig(ffn(l, 'receptance.weight') @ xr) * (ffn(l, 'value.weight') @ np.maximum(ffn(l, 'key.weight') @ xk, 0) ** 2)
        out.append(w['head.weight'] @ layer_norm(x, w['ln_out.weight'], w['ln_out.bias']))
    return ver, out


def main():
    fixtures = sys.argv[1]
    result = {"desc": __doc__.strip().splitlines()[0], "tokens": list(TEXT), "positions": POSITIONS, "models": {}}
    for name in MODELS:
        ver, logits = run(read(f"{fixtures}/{name}"))
        result["models"][name] = {"version": str(ver), "logits": [[float('%.7g' % v) for v in logits[p]] for p in POSITIONS]}
    json.dump(result, sys.stdout, separators=(',', ':'))


if __name__ == '__main__':
    main()
