"""Short A/V probes (session 5): can a recipe fit RITE, and how fast does it climb?

Trains an A/V W-Net for a few hundred steps on ``--fit`` of RITE's training images
(random crops, flips; no colour/camera augmentation) at a half-scale FOV (270 px), then
prints one JSON line with the pixel A/V accuracy (``p_artery >= p_vein`` on reference
artery/vein pixels) on the first 4 fitted images and on the 4 validation images of the
shipped models. Levers: ``--widths`` (5 entries: a fifth level), ``--av-weight`` (the
artery-vs-vein decision term, here with the soft target as it is), ``--vessel-input``
(the ``general`` bundle's vessel probability as a fourth channel, scaled to [-1, 1]).
One thread, minutes per probe: a screening tool, not a training recipe.

    OMP_NUM_THREADS=1 python benchmarks/av_probe.py --fit 16 --steps 300 --batch 4 --widths 8,16,32,64,128 --av-weight 1 --vessel-input
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from earnet.data.registry import get_dataset
from earnet.data.rite import ARTERY, VEIN
from earnet.data.transforms import normalise
from earnet.engine.av_fit import _tensors
from earnet.engine.av_task import av_loss
from earnet.losses import masked_bce
from earnet.models.av import AVWNet

VAL = ["26_training", "30_training", "32_training", "35_training"]
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--widths", default="8,16,32,64")
p.add_argument("--diameter", type=float, default=270)
p.add_argument("--steps", type=int, default=150)
p.add_argument("--crop", type=int, default=160)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--fit", type=int, default=4)
p.add_argument("--vessel-input", action="store_true")
p.add_argument("--av-weight", type=float, default=0.0, help="weight of an extra artery-vs-vein CE on known vessel px")
p.add_argument("--minutes", type=float, default=1e9)
p.add_argument("--root", default="../shared/data")
a = p.parse_args()
torch.manual_seed(0); np.random.seed(0)
train = get_dataset("rite", a.root, "train")
samples = {s.id: s for s in train}
fit_ids = [i for i in sorted(samples) if i not in VAL][: a.fit]
vprob = {}
if a.vessel_input:
    from earnet.segment import load_segmenter
    seg = load_segmenter("general")
    for i in fit_ids + VAL:
        vprob[i] = seg.segment(samples[i].image, samples[i].fov).probability
def prep(i):
    s = samples[i]
    if a.vessel_input:
        s = type(s)(s.id, np.concatenate([s.image, (vprob[i] * 255).round().astype(np.uint8)[..., None]], 2), s.label, s.fov, s.observer2, s.av)
    return _tensors(s, a.diameter)
fit = [prep(i) for i in fit_ids]
widths = tuple(int(w) for w in a.widths.split(","))
inch = 4 if a.vessel_input else 3
model = AVWNet(widths)
if inch != 3:
    from earnet.models.wnet import MiniUNet
    model.first = MiniUNet(inch, widths, out_channels=3); model.second = MiniUNet(inch + 3, widths, out_channels=3)
print("params", sum(q.numel() for q in model.parameters()), "fit", fit_ids, flush=True)
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.1)
def norm(x):
    rgb = normalise(x[:, :3])
    return torch.cat([rgb, x[:, 3:] * 2 - 1], 1) if x.shape[1] > 3 else rgb
def batch():
    imgs, maps = [], {k: [] for k in ("label", "fov", "artery", "vein", "known")}
    for _ in range(a.batch):
        t = fit[np.random.randint(len(fit))]
        H, W = t.image.shape[-2:]
        c = min(a.crop, H, W)
        y, x = np.random.randint(0, H - c + 1), np.random.randint(0, W - c + 1)
        im = t.image[:, y:y+c, x:x+c]
        ms = {k: t.maps[k][y:y+c, x:x+c] for k in maps}
        if np.random.rand() < .5:
            im = im.flip(-1); ms = {k: v.flip(-1) for k, v in ms.items()}
        if np.random.rand() < .5:
            im = im.flip(-2); ms = {k: v.flip(-2) for k, v in ms.items()}
        imgs.append(im); [maps[k].append(ms[k]) for k in maps]
    return norm(torch.stack(imgs)), {k: torch.stack(v)[:, None] for k, v in maps.items()}
def ce_av(logits, b):
    m = b["fov"] * b["known"] * (b["artery"] != b["vein"]).float() * b["label"]
    return masked_bce(logits[:, 0:1] - logits[:, 1:2], b["artery"], m)
def score(ids):
    model.eval(); ok = n = 0
    with torch.no_grad():
        for i in ids:
            s = samples[i]; t = prep(i)
            H, W = s.fov.shape
            x = norm(t.image[None])
            pr = torch.sigmoid(model(x).logits)
            pr = F.interpolate(pr, size=(H, W), mode="bilinear", align_corners=False)[0].numpy()
            ref = s.av; sel = ((ref == ARTERY) | (ref == VEIN)) & s.fov
            pred_art = pr[0] >= pr[1]
            ok += int((pred_art[sel] == (ref[sel] == ARTERY)).sum()); n += int(sel.sum())
    model.train(); return ok / n
t0 = time.time(); losses = []
for step in range(a.steps):
    x, b = batch()
    out = model(x)
    loss = av_loss(out.logits, b) + 0.5 * av_loss(out.aux_logits[0], b)
    if a.av_weight:
        loss = loss + a.av_weight * (ce_av(out.logits, b) + 0.5 * ce_av(out.aux_logits[0], b))
    opt.zero_grad(); loss.backward(); opt.step(); sched.step(); losses.append(loss.item())
    if (step + 1) % 50 == 0:
        print(f"step {step+1} loss {np.mean(losses[-50:]):.3f} {time.time()-t0:.0f}s", flush=True)
    if time.time() - t0 > a.minutes * 60:
        break
print(json.dumps({"args": vars(a), "steps": step + 1, "sec": round(time.time() - t0), "fit_acc": round(score(fit_ids[:4]), 4), "val_acc": round(score(VAL), 4)}), flush=True)
