"""PyTorch side of `landscape bench` (suite `pytorch`): the same models, data and directions evaluated the way a
PyTorch user scripts it, in one thread (torch.set_num_threads(1)), printing one JSON line per case.

    torch_bench.py probe                      matMul rate and the OpenBLAS kernel in use
    torch_bench.py surface|line CASE_DIR      hand loop over the grid of CASE_DIR/spec.json (losses printed)
    torch_bench.py hvp CASE_DIR REPEATS       one Hessian-vector product by double backprop (median seconds)
    torch_bench.py eigen CASE_DIR TOL MAXIT   PyHessian's power iteration for the top eigenvalue
    torch_bench.py trace CASE_DIR SAMPLES     Hutchinson trace with Rademacher probes (PyHessian's estimator)

CASE_DIR holds spec.json (the job spec `landscape run` gets) naming a tfjs Layers model directory (model.json +
weights.bin), the data ({"x", "y"}) and the direction weight sets. Layouts follow the reference fixtures' README:
Dense kernels [in, out], Conv2D kernels [kh, kw, in, out]; images are fed to torch as NCHW and permuted back to
NHWC before Flatten.
"""
import ctypes
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def openblas_core():
    for path in glob.glob("/usr/lib/x86_64-linux-gnu/openblas*/libopenblas*.so*"):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


def emit(record):
    print(json.dumps(record), flush=True)


def median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def min_seconds(fn, repeats):
    """Best of the repeats: the machine is shared, and the probe only chooses between two settings."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def probe():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    seconds = min_seconds(lambda: a @ b, 7)
    exact = a.double() @ b.double()
    error = float(((a @ b).double() - exact).abs().max() / exact.abs().max())
    emit({"case": "probe", "torch": torch.__version__, "gflops": 2 * 1024 ** 3 / seconds / 1e9, "openblasCore": openblas_core(),
          "relativeError": error, "ok": error < 1e-4})


class Model:
    """The Sequential model.json as a pure function of a list of float32 tensors in manifest order."""

    def __init__(self, directory):
        with open(os.path.join(directory, "model.json")) as f:
            doc = json.load(f)
        topology = doc["modelTopology"]
        topology = topology.get("model_config", topology)
        config = topology["config"]
        self.layers = config["layers"] if isinstance(config, dict) else config
        manifest = [w for group in doc["weightsManifest"] for w in group["weights"]]
        raw = b"".join(open(os.path.join(directory, p), "rb").read() for group in doc["weightsManifest"] for p in group["paths"])
        flat = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        self.names, self.shapes, self.values, offset = [], [], [], 0
        for w in manifest:
            size = int(np.prod(w["shape"])) if w["shape"] else 1
            self.names.append(w["name"])
            self.shapes.append(w["shape"])
            self.values.append(flat[offset:offset + size].reshape(w["shape"]))
            offset += size

    def forward(self, params, x):
        """x is NCHW for image models (torch's layout, converted once at load); Flatten restores the NHWC feature order."""
        k = 0
        for layer in self.layers:
            kind, c = layer["class_name"], layer["config"]
            if kind == "Dense":
                x = x @ params[k] + params[k + 1]
                k += 2
            elif kind == "Conv2D":
                padding = "same" if c.get("padding") == "same" else "valid"
                x = F.conv2d(x, params[k].permute(3, 2, 0, 1), params[k + 1], stride=tuple(c.get("strides", [1, 1])), padding=padding)
                k += 2
            elif kind in ("MaxPooling2D", "AveragePooling2D"):
                size = tuple(c.get("pool_size", [2, 2]))
                stride = tuple(c.get("strides") or size)
                x = (F.max_pool2d if kind == "MaxPooling2D" else F.avg_pool2d)(x, size, stride)
            elif kind == "Flatten":
                x = (x.permute(0, 2, 3, 1) if x.dim() == 4 else x).reshape(x.shape[0], -1)
            elif kind in ("InputLayer", "Dropout"):
                pass
            elif kind != "Activation":
                raise SystemExit(f"torch_bench: layer class {kind} is not in this baseline")
            if kind in ("Dense", "Conv2D", "Activation"):
                activation = c.get("activation", "linear")
                x = {"linear": lambda t: t, "relu": torch.relu, "tanh": torch.tanh, "softplus": F.softplus, "sigmoid": torch.sigmoid}[activation](x)
        return x


class Case:
    def __init__(self, directory):
        with open(os.path.join(directory, "spec.json")) as f:
            self.spec = json.load(f)
        self.model = Model(os.path.join(directory, self.spec["model"]))
        with open(os.path.join(directory, self.spec["data"])) as f:
            data = json.load(f)
        x = torch.tensor(np.asarray(data["x"], dtype=np.float32))
        self.x = x.permute(0, 3, 1, 2).contiguous() if x.dim() == 4 else x
        self.y = torch.tensor(np.asarray(data["y"], dtype=np.int64))
        self.directory = directory

    def loss(self, params):
        return F.cross_entropy(self.model.forward(params, self.x), self.y)

    def direction(self, name):
        with open(os.path.join(self.directory, self.spec["directions"][name]["file"])) as f:
            weights = json.load(f)
        out = []
        for key, w in zip(self.model.names, self.model.values):
            d = np.asarray(weights[key]["data"], dtype=np.float64).reshape(w.shape)
            if d.ndim <= 1:
                out.append(np.zeros_like(d))  # bias: ignore
                continue
            axes = tuple(range(d.ndim - 1))
            out.append(d * np.sqrt((w ** 2).sum(axis=axes)) / (np.sqrt((d ** 2).sum(axis=axes)) + 1e-10))  # filter normalization
        return out

    def params(self, requires_grad=False):
        return [torch.tensor(w, dtype=torch.float32, requires_grad=requires_grad) for w in self.model.values]


def grid(axis):
    low, high, steps = axis
    return np.linspace(low, high, steps)


def landscape(case):
    theta = case.model.values
    d1 = case.direction("x")
    d2 = case.direction("y") if "y" in case.spec["directions"] else None
    xs = grid(case.spec["grid"]["x"])
    ys = grid(case.spec["grid"]["y"]) if d2 is not None else [0.0]
    losses = []
    start = time.perf_counter()
    with torch.no_grad():
        for b in ys:
            for a in xs:
                params = [torch.from_numpy((t + a * u + (b * w if d2 is not None else 0)).astype(np.float32)) for t, u, w in
                          zip(theta, d1, d2 if d2 is not None else d1)]
                losses.append(case.loss(params).item())
    seconds = time.perf_counter() - start
    emit({"case": "torch-" + case.spec["kind"], "points": len(losses), "loopSeconds": seconds, "loss": losses})


def hvp_function(case, retain=False):
    """Double backprop. retain=True is PyHessian's single-batch mode: the gradient graph is built once (on the first
    product, so its cost is timed) and every product backpropagates through it again (retain_graph=True)."""
    params = case.params(requires_grad=True)
    retained = []

    def hvp(vs):
        if not retain:
            grads = torch.autograd.grad(case.loss(params), params, create_graph=True)
            dot = sum((g * v).sum() for g, v in zip(grads, vs))
            return torch.autograd.grad(dot, params)
        if not retained:
            retained.extend(torch.autograd.grad(case.loss(params), params, create_graph=True))
        return torch.autograd.grad(retained, params, grad_outputs=vs, retain_graph=True)

    return params, hvp


def hvp_case(case, repeats):
    params, hvp = hvp_function(case)
    _, retained = hvp_function(case, retain=True)
    vs = [torch.randn_like(p) for p in params]
    retained(vs)
    emit({"case": "torch-hvp", "seconds": median_seconds(lambda: hvp(vs), repeats),
          "retainedSeconds": median_seconds(lambda: retained(vs), repeats), "samples": len(case.y)})


def normalized(vs):
    norm = torch.sqrt(sum((v * v).sum() for v in vs))
    return [v / (norm + 1e-6) for v in vs]


def eigen_case(case, tol, max_iterations):
    params, hvp = hvp_function(case, retain=True)
    emit({"case": "torch-eigen", **top_eigenvalue(params, hvp, tol, max_iterations)})


def top_eigenvalue(params, hvp, tol, max_iterations):
    """PyHessian's `eigenvalues(top_n=1)`: stop when the Rayleigh quotient changes by < tol relative."""
    torch.manual_seed(0)
    start = time.perf_counter()
    v = normalized([torch.randn_like(p) for p in params])
    eigenvalue, iterations = None, 0
    for _ in range(max_iterations):
        iterations += 1
        hv = hvp(v)
        value = float(sum((h * u).sum() for h, u in zip(hv, v)))
        v = normalized([h.detach() for h in hv])
        if eigenvalue is not None and abs(eigenvalue - value) / (abs(eigenvalue) + 1e-6) < tol:
            eigenvalue = value
            break
        eigenvalue = value
    return {"seconds": time.perf_counter() - start, "hvps": iterations, "eigenvalue": eigenvalue}


def trace_case(case, samples):
    params, hvp = hvp_function(case, retain=True)
    emit({"case": "torch-trace", **hutchinson_trace(params, hvp, samples)})


def hutchinson_trace(params, hvp, samples):
    """PyHessian's `trace()`: Hutchinson with Rademacher probes through the retained gradient graph."""
    torch.manual_seed(0)
    start = time.perf_counter()
    values = []
    for _ in range(samples):
        z = [torch.randint_like(p, high=2) * 2 - 1 for p in params]
        values.append(float(sum((h * u).sum() for h, u in zip(hvp(z), z))))
    return {"seconds": time.perf_counter() - start, "hvps": samples, "trace": float(np.mean(values))}


def hessian_case(case, tol, max_iterations, samples):
    """A PyHessian script: one hessian object (one retained gradient graph), eigenvalues() then trace()."""
    params, hvp = hvp_function(case, retain=True)
    top = top_eigenvalue(params, hvp, tol, max_iterations)
    trace = hutchinson_trace(params, hvp, samples)
    emit({"case": "torch-hessian", "seconds": top["seconds"] + trace["seconds"], "hvps": top["hvps"] + trace["hvps"],
          "eigenvalue": top["eigenvalue"], "trace": trace["trace"]})


def main(argv):
    command = argv[0]
    if command == "probe":
        return probe()
    case = Case(argv[1])
    if command in ("surface", "line"):
        return landscape(case)
    if command == "hvp":
        return hvp_case(case, int(argv[2]))
    if command == "eigen":
        return eigen_case(case, float(argv[2]), int(argv[3]))
    if command == "trace":
        return trace_case(case, int(argv[2]))
    if command == "hessian":
        return hessian_case(case, float(argv[2]), int(argv[3]), int(argv[4]))
    raise SystemExit(f"torch_bench: unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
