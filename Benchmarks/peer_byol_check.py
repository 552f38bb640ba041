# Cross-check for the methods issue: BYOL in PyTorch with the recipe of ours (solo-learn CIFAR:
# LARS lr 1.0 x batch/256 with the clipped trust ratio, wd 1e-5, tau 0.99 -> 1 by cosine, one warm-up
# epoch, heads --hidden -> --proj), kNN k 200 T 0.1 after every epoch. It reuses the peer's data
# loader, augmentation, kNN and backbone from ../shared/peer (run it from the project root with the
# Python of ../shared/peer/setup.sh). Defaults: our ci scale.
import argparse, math, copy, sys, time, torch, torch.nn as nn, torch.nn.functional as F
import os; sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peer"))
from torch_bt_train import load, augment, features, knn
from torch_bt_step import backbone
p = argparse.ArgumentParser()
p.add_argument("--width", type=int, default=8); p.add_argument("--batch", type=int, default=64)
p.add_argument("--epochs", type=int, default=6); p.add_argument("--train", type=int, default=4096)
p.add_argument("--test", type=int, default=2048); p.add_argument("--hidden", type=int, default=1024)
p.add_argument("--proj", type=int, default=128); p.add_argument("--lr", type=float, default=1.0)
p.add_argument("--wd", type=float, default=1e-5); p.add_argument("--tau", type=float, default=0.99)
p.add_argument("--warm", type=int, default=1); p.add_argument("--seed", type=int, default=0)
p.add_argument("--predlr", type=float, default=1.0); p.add_argument("--noclip", action="store_true"); p.add_argument("--sgd", action="store_true")
a = p.parse_args(); torch.set_num_threads(2); torch.manual_seed(a.seed); g = torch.Generator().manual_seed(a.seed)
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "cifar-10-batches-bin")
xtr, ytr = load(d, ["data_batch_1.bin", "data_batch_2.bin"]); xtr, ytr = xtr[:a.train], ytr[:a.train]
xte, yte = load(d, ["test_batch.bin"]); xte, yte = xte[:a.test], yte[:a.test]
net, feat = backbone(a.width)
def mlp(i, h, o): return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(True), nn.Linear(h, o))
proj = mlp(feat, a.hidden, a.proj); pred = mlp(a.proj, a.hidden, a.proj)
tnet = copy.deepcopy(net); tproj = copy.deepcopy(proj)
for q in list(tnet.parameters()) + list(tproj.parameters()): q.requires_grad_(False)
params = list(net.parameters()) + list(proj.parameters()) + list(pred.parameters())
lr0 = a.lr * a.batch / 256
class LARS(torch.optim.Optimizer):
    def __init__(s, params, lr, wd, eta=0.02, clip=True):
        super().__init__(params, dict(lr=lr, wd=wd, eta=eta, clip=clip))
    @torch.no_grad()
    def step(s):
        for gr in s.param_groups:
            for q in gr["params"]:
                if q.grad is None: continue
                dp = q.grad.clone()
                if q.ndim > 1:
                    pn, gn = q.norm(), dp.norm()
                    dp.add_(q, alpha=gr["wd"])
                    if pn > 0 and gn > 0:
                        ad = gr["eta"] * pn / (gn + gr["wd"] * pn)
                        if gr["clip"]: ad = min(ad / gr["lr"], 1.0)
                        dp.mul_(ad)
                st = s.state[q]
                if "mu" not in st: st["mu"] = torch.zeros_like(q)
                st["mu"].mul_(0.9).add_(dp); q.add_(st["mu"], alpha=-gr["lr"])
groups = [dict(params=list(net.parameters()) + list(proj.parameters()), mult=1.0), dict(params=list(pred.parameters()), mult=a.predlr)]
opt = torch.optim.SGD(groups, lr=lr0, momentum=0.9, weight_decay=a.wd) if a.sgd else LARS(groups, lr0, a.wd, clip=not a.noclip)
spe = len(xtr) // a.batch; total = spe * a.epochs; warm = spe * a.warm
print(f"init kNN {knn(features(net, xtr), ytr, features(net, xte), yte):.2f}", flush=True)
step = 0; t0 = time.time()
def lossf(p, z): return 2 - 2 * (F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(1).mean()
for ep in range(a.epochs):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(spe):
        x = xtr[perm[i*a.batch:(i+1)*a.batch]]; x1 = augment(x, g); x2 = augment(x, g)
        lr = lr0 * step / warm if step < warm else lr0 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
        for gr in opt.param_groups: gr["lr"] = lr * gr["mult"]
        p1 = pred(proj(net(x1))); p2 = pred(proj(net(x2)))
        with torch.no_grad(): z1 = tproj(tnet(x1)); z2 = tproj(tnet(x2))
        loss = lossf(p1, z2) + lossf(p2, z1)
        opt.zero_grad(); loss.backward(); opt.step(); step += 1
        tau = 1 - (1 - a.tau) * (math.cos(math.pi * step / total) + 1) / 2
        with torch.no_grad():
            for t, o in zip(list(tnet.parameters()) + list(tproj.parameters()), list(net.parameters()) + list(proj.parameters())):
                t.mul_(tau).add_(o, alpha=1 - tau)
            for t, o in zip(list(tnet.buffers()) + list(tproj.buffers()), list(net.buffers()) + list(proj.buffers())):
                t.copy_(o)
    print(f"epoch {ep+1} loss {loss.item():.3f} {time.time()-t0:.0f}s kNN {knn(features(net, xtr), ytr, features(net, xte), yte):.2f}", flush=True)
