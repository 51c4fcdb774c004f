"""Baseline for `landscape bench`: the reference surfaces evaluated the way a Python user would script it (numpy,
float32, one process), printing one JSON line per model. Same grid, directions and loss as the TypeScript case
`surface` (filter-normalized raw directions d1/d2, grid [-1, 1] x [-1, 1], steps x steps)."""
import json
import os
import sys
import time

import numpy as np

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "fixtures", "reference")


def weight_set(path):
    with open(path) as f:
        return {name: np.asarray(v["data"], dtype=np.float64).reshape(v["shape"]) for name, v in json.load(f).items()}


def filter_normalize(d, w):
    out = {}
    for name, dv in d.items():
        if dv.ndim <= 1:
            out[name] = np.zeros_like(dv)
            continue
        axes = tuple(range(dv.ndim - 1))
        out[name] = dv * np.sqrt((w[name] ** 2).sum(axis=axes)) / (np.sqrt((dv ** 2).sum(axis=axes)) + 1e-10)
    return out


def conv_valid(x, k):
    # x [n, h, w, c], k [kh, kw, c, o]: cross-correlation, stride 1, valid padding (im2col via stride tricks).
    kh, kw = k.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # [n, h', w', c, kh, kw]
    return np.einsum("nijcab,abco->nijo", windows, k, optimize=True)


def softplus(z):
    return np.logaddexp(0, z)


def forward(model, p, x):
    if model == "m1_mlp":
        h = np.tanh(x @ p["dense_Dense1/kernel"] + p["dense_Dense1/bias"])
        h = softplus(h @ p["dense_Dense2/kernel"] + p["dense_Dense2/bias"])
        return h @ p["dense_Dense3/kernel"] + p["dense_Dense3/bias"]
    h = np.tanh(conv_valid(x, p["conv2d_Conv2D1/kernel"]) + p["conv2d_Conv2D1/bias"])
    h = softplus(conv_valid(h, p["conv2d_Conv2D2/kernel"]) + p["conv2d_Conv2D2/bias"])
    return h.reshape(h.shape[0], -1) @ p["dense_Dense1/kernel"] + p["dense_Dense1/bias"]


def loss_and_accuracy(z, y):
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean()), float((z.argmax(axis=1) == y).mean())


def main(steps):
    for model in ("m1_mlp", "m2_cnn"):
        d = os.path.join(REFERENCE, model)
        with open(os.path.join(d, "dataset.json")) as f:
            data = json.load(f)
        x = np.asarray(data["x"], dtype=np.float32)
        y = np.asarray(data["y"], dtype=np.int64)
        theta = weight_set(os.path.join(d, "weights_trained.json"))
        d1 = filter_normalize(weight_set(os.path.join(d, "direction_d1_raw.json")), theta)
        d2 = filter_normalize(weight_set(os.path.join(d, "direction_d2_raw.json")), theta)
        grid = np.linspace(-1, 1, steps)
        start = time.perf_counter()
        for b in grid:
            for a in grid:
                p = {k: (theta[k] + a * d1[k] + b * d2[k]).astype(np.float32) for k in theta}
                loss_and_accuracy(forward(model, p, x), y)
        seconds = time.perf_counter() - start
        points = steps * steps
        print(json.dumps({"case": "surface-baseline", "implementation": "numpy " + np.__version__, "model": model, "threads": 1,
                          "points": points, "seconds": seconds, "pointsPerSecond": points / seconds}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21)
