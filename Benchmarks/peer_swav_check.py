# Cross-check for the methods issue: SwAV in PyTorch with the recipe of ours (solo-learn CIFAR:
# projector Linear-BN-ReLU-Linear, L2-normalised embeddings scored against K prototypes that are
# L2-normalised before every step; codes by Sinkhorn-Knopp, eps 0.05, 3 iterations, without
# gradient; each view predicts the other's codes, softmax at temperature 0.1; prototypes frozen for
# the first epoch; LARS lr 0.6 x batch/256 with the clipped trust ratio, wd 1e-6, one warm-up epoch
# then cosine; optional queue of earlier embeddings for Sinkhorn). kNN k 200 T 0.1 after every
# epoch. It reuses the peer's data loader, augmentation, kNN and backbone from ../shared/peer (run
# it from the project root with the Python of ../shared/peer/setup.sh). Defaults: our ci scale
# (`sslbench train --method swav --width 8 --batch-size 64 --epochs 6 --train-images 4096
# --test-images 2048 --heads 1024,128`, 100 prototypes). `--augmentation strong` swaps the peer's mild
# augmentation for one as strong as the SimCLR/SwAV recipe of ours (jitter 0.8, blur p 0.5, no hue).
import argparse, math, sys, time, os, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peer"))
from torch_bt_train import load, augment, features, knn, MEAN, STD
from torch_bt_step import backbone
p = argparse.ArgumentParser()
p.add_argument("--width", type=int, default=8); p.add_argument("--batch", type=int, default=64)
p.add_argument("--epochs", type=int, default=6); p.add_argument("--train", type=int, default=4096)
p.add_argument("--test", type=int, default=2048); p.add_argument("--hidden", type=int, default=1024)
p.add_argument("--proj", type=int, default=128); p.add_argument("--prototypes", type=int, default=100)
p.add_argument("--temperature", type=float, default=0.1); p.add_argument("--epsilon", type=float, default=0.05)
p.add_argument("--lr", type=float, default=0.6); p.add_argument("--wd", type=float, default=1e-6)
p.add_argument("--freeze", type=int, default=1, help="epochs with the prototypes frozen")
p.add_argument("--queue", type=int, default=0, help="embeddings kept for Sinkhorn (0: none)")
p.add_argument("--queue-start", type=int, default=0); p.add_argument("--warm", type=int, default=1)
p.add_argument("--augmentation", choices=["peer", "strong"], default="peer",
               help="peer: the peer's own (jitter 0.4/0.4/0.2, solarisation 0.1); strong: jitter 0.8/0.8/0.8 "
                    "(no hue) and Gaussian blur with p 0.5, sigma 0.1-2, as the SimCLR/SwAV recipe of ours")
p.add_argument("--seed", type=int, default=0); p.add_argument("--threads", type=int, default=2)
a = p.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(a.seed); g = torch.Generator().manual_seed(a.seed)
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "cifar-10-batches-bin")
xtr, ytr = load(d, ["data_batch_1.bin", "data_batch_2.bin"]); xtr, ytr = xtr[:a.train], ytr[:a.train]
xte, yte = load(d, ["test_batch.bin"]); xte, yte = xte[:a.test], yte[:a.test]
net, feat = backbone(a.width)
proj = nn.Sequential(nn.Linear(feat, a.hidden), nn.BatchNorm1d(a.hidden), nn.ReLU(True), nn.Linear(a.hidden, a.proj))
prototypes = nn.Linear(a.proj, a.prototypes, bias=False)
lr0 = a.lr * a.batch / 256

def strong_augment(x, g):
    """Random resized crop (scale 0.08-1, ratio 3/4-4/3) and flip; with p 0.8 brightness, contrast and
    saturation factors in [0.2, 1.8]; grayscale with p 0.2; with p 0.5 a Gaussian blur of sigma in [0.1, 2]
    (2*ceil(3 sigma)+1 taps, reflected edges); normalised with the peer's mean and std."""
    n = x.shape[0]
    area = torch.empty(n).uniform_(0.08, 1.0, generator=g)
    ratio = torch.exp(torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g))
    w = torch.sqrt(area * ratio).clamp(max=1); h = torch.sqrt(area / ratio).clamp(max=1)
    cx = (torch.rand(n, generator=g) * 2 - 1) * (1 - w); cy = (torch.rand(n, generator=g) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3); theta[:, 0, 0] = w * flip; theta[:, 0, 2] = cx; theta[:, 1, 1] = h; theta[:, 1, 2] = cy
    x = F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), align_corners=False)
    jitter = (torch.rand(n, generator=g) < 0.8).view(n, 1, 1, 1)
    bright, contrast, sat = (torch.empty(n, 1, 1, 1).uniform_(0.2, 1.8, generator=g) for _ in range(3))
    y = (x * bright).clamp(0, 1); mean = y.mean(dim=(1, 2, 3), keepdim=True); y = ((y - mean) * contrast + mean).clamp(0, 1)
    luma = 0.299 * y[:, :1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:]; y = ((y - luma) * sat + luma).clamp(0, 1)
    x = torch.where(jitter, y, x)
    gray = (torch.rand(n, generator=g) < 0.2).view(n, 1, 1, 1)
    luma = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]).expand(-1, 3, -1, -1); x = torch.where(gray, luma, x)
    blur = torch.rand(n, generator=g) < 0.5; sigma = torch.empty(n).uniform_(0.1, 2.0, generator=g)
    out = []
    for i in range(n):
        xi = x[i:i + 1]
        if blur[i]:
            radius = math.ceil(3 * sigma[i].item()); t = torch.arange(-radius, radius + 1, dtype=torch.float32)
            taps = torch.exp(-t * t / (2 * sigma[i] ** 2)); taps = taps / taps.sum()
            xi = F.pad(xi, (radius,) * 4, mode="reflect")
            xi = F.conv2d(xi, taps.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
            xi = F.conv2d(xi, taps.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
        out.append(xi)
    return (torch.cat(out) - MEAN) / STD

views = augment if a.augmentation == "peer" else strong_augment

class LARS(torch.optim.Optimizer):
    """SGD with momentum 0.9 whose step g + wd*w for a weight matrix is scaled by the trust ratio
    eta*|w|/|g + wd*w|, clipped so that lr*ratio <= lr (solo-learn's clip-lr variant); biases and
    batch-norm parameters get neither decay nor adaptation."""
    def __init__(s, params, lr, wd, eta=0.02):
        super().__init__(params, dict(lr=lr, wd=wd, eta=eta))
    @torch.no_grad()
    def step(s):
        for gr in s.param_groups:
            for q in gr["params"]:
                if q.grad is None: continue
                dp = q.grad.clone()
                if q.ndim > 1:
                    dp.add_(q, alpha=gr["wd"]); pn, dn = q.norm(), dp.norm()
                    ratio = gr["eta"] * pn / dn if pn > 0 and dn > 0 else 1.0
                    dp.mul_(min(ratio / gr["lr"], 1.0) if gr["lr"] > 0 else ratio)
                st = s.state[q]
                if "mu" not in st: st["mu"] = torch.zeros_like(q)
                st["mu"].mul_(0.9).add_(dp); q.add_(st["mu"], alpha=-gr["lr"])

opt = LARS(list(net.parameters()) + list(proj.parameters()) + list(prototypes.parameters()), lr0, a.wd)

@torch.no_grad()
def sinkhorn(scores):
    """Codes [B, K] from scores [B, K]: every prototype gets 1/K of the mass, every sample 1/B."""
    q = torch.exp((scores.double() - scores.max()) / a.epsilon); q /= q.sum()
    b, k = q.shape
    for _ in range(3):
        q /= q.sum(0, keepdim=True) * k
        q /= q.sum(1, keepdim=True) * b
    return (q * b).float()

queue = torch.zeros(a.queue, a.proj) if a.queue > 0 else None; filled = 0
spe = len(xtr) // a.batch; total = spe * a.epochs; warm = spe * a.warm
print(f"init kNN {knn(features(net, xtr), ytr, features(net, xte), yte):.2f}", flush=True)
step = 0; t0 = time.time()
for ep in range(a.epochs):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(spe):
        x = xtr[perm[i*a.batch:(i+1)*a.batch]]; x1 = views(x, g); x2 = views(x, g)
        lr = lr0 * step / warm if step < warm else lr0 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
        for gr in opt.param_groups: gr["lr"] = lr
        with torch.no_grad(): prototypes.weight.copy_(F.normalize(prototypes.weight, dim=1))
        z = [F.normalize(proj(net(v)), dim=1) for v in (x1, x2)]
        s = [prototypes(e) for e in z]
        use_queue = queue is not None and ep >= a.queue_start and filled > 0
        codes = []
        for v in range(2):
            with torch.no_grad():
                extra = prototypes(queue[:filled]) if use_queue else s[v][:0]
                codes.append(sinkhorn(torch.cat([s[v].detach(), extra]))[:a.batch])
        loss = sum(-(codes[1 - v] * F.log_softmax(s[v] / a.temperature, dim=1)).sum(1).mean() for v in range(2)) / 2
        if queue is not None:
            with torch.no_grad():
                fresh = torch.cat([z[0], z[1]]).detach()[:a.queue]
                queue = torch.cat([fresh, queue[:a.queue - len(fresh)]]); filled = min(a.queue, filled + len(fresh))
        opt.zero_grad(); loss.backward()
        if ep < a.freeze: prototypes.weight.grad = None
        opt.step(); step += 1
    print(f"epoch {ep+1} loss {loss.item():.3f} {time.time()-t0:.0f}s kNN {knn(features(net, xtr), ytr, features(net, xte), yte):.2f}", flush=True)
