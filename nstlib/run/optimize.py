"""Batched image optimisers and the step loop.

Each sample of a batch is an independent optimisation: its own learning rate, and for L-BFGS its
own history, curvature pairs and step, vectorised over the batch. Pixels are projected back into
[0, 1] after every step, so the image optimised is the image saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from nstlib.losses.core import LossTerms


class Optimizer(Protocol):
    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The next iterate (unprojected) from `x` and the loss gradient at `x`."""
        ...

    def select(self, keep: torch.Tensor) -> None:
        """Drop the samples where `keep` is False from the state (the batch shrinks)."""
        ...


class LBFGS:
    """L-BFGS with a fixed step (as torch.optim.LBFGS without line search), batched per sample.

    The inverse-Hessian product uses the compact representation of Byrd, Nocedal & Schnabel (1994):
    H = γI + [S γY] M [Sᵀ; γYᵀ], with the small matrices kept up to date from inner products, so
    a step reads the history twice (two batched matrix products) instead of 2m vector passes, and
    only the part of the history filled so far.
    The curvature pair uses the step actually taken (after projection into [0, 1]).
    As in torch, pairs with sᵀy ≤ 1e-10 are skipped. The first step is scaled by torch's min(1, 1/‖g‖₁)
    when `first_step` is None; for images, `first_step=c` instead moves the largest pixel by c·lr. On
    style-transfer losses (~1e11) torch's rule takes a ~1e-6 pixel step, so the first curvature pair is
    rounding noise and the loss jumps 20–150× two steps later; c = 0.05 avoids the noise.
    `max_growth=r` bounds each step's largest pixel move by r × the previous step's (torch's strong-Wolfe
    search extrapolates at most 10× too). Without it the second step, one secant pair along the first
    gradient, extrapolates that short probe ~16× (0.05 → 0.8 of the pixel range) on a far-from-quadratic
    loss and the loss jumps 2–7× (bench/loss_jump.py); None keeps torch's L-BFGS exactly.
    `history_dtype=torch.bfloat16` stores the pairs in half the memory: they are rounded once when
    stored, and every inner product uses the rounded vectors in fp32, so the compact form stays
    consistent (docs/large_images.md measures the effect).
    """

    def __init__(
        self,
        lr: torch.Tensor,
        history: int = 100,
        steps: int | None = None,
        first_step: float | None = None,
        max_growth: float | None = None,
        history_dtype: torch.dtype = torch.float32,
    ):
        self.first_step, self.max_growth, self.history_dtype = first_step, max_growth, history_dtype
        # a run of `steps` steps makes at most steps − 1 pairs: no need to hold more
        self.lr, self.m = lr.double(), max(1, min(history, steps - 1 if steps else history))
        self.k = 0
        self.filled = 0  # slots [filled, m) are unwritten for every sample (known on the host)
        self.prev_x: torch.Tensor | None = None
        self.prev_g: torch.Tensor | None = None
        self.basis: torch.Tensor | None = None  # B × m × 2 × D: slot i holds (s_i, y_i)

    def _init_state(self, batch: int, dim: int, device: torch.device) -> None:
        m = self.m
        # slots zeroed as they come into use
        self.basis = torch.empty(batch, m, 2, dim, device=device, dtype=self.history_dtype)
        self.gram = torch.zeros(batch, 2 * m, 2 * m, dtype=torch.float64, device=device)  # s_i ↦ 2i, y_i ↦ 2i+1
        self.written = torch.zeros(batch, m, dtype=torch.bool, device=device)
        self.ptr = torch.zeros(batch, dtype=torch.long, device=device)
        self.gamma = torch.ones(batch, dtype=torch.float64, device=device)

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        xf, gf = x.reshape(batch, -1), grad.reshape(batch, -1).float()
        rows = torch.arange(batch, device=x.device)
        if self.basis is None:
            self._init_state(batch, xf.shape[1], x.device)
        assert self.basis is not None
        last_move = None
        if self.prev_x is not None:
            assert self.prev_g is not None
            s, y = xf - self.prev_x, gf - self.prev_g
            last_move = s.abs().amax(1).double()
            if self.history_dtype != torch.float32:  # the pair as stored
                s, y = s.to(self.history_dtype).float(), y.to(self.history_dtype).float()
            ys = (s.double() * y.double()).sum(1)
            accept = ys > 1e-10
            slot = self.ptr
            keep = accept[:, None, None]
            if self.filled < self.m:
                self.basis[:, self.filled].zero_()
                self.filled += 1
            n = self.filled
            pair = torch.stack([s, y], 1).to(self.history_dtype)
            self.basis[rows, slot] = torch.where(keep, pair, self.basis[rows, slot])
            used = self.basis[:, :n].reshape(batch, 2 * n, -1)
            dots = _products(used, torch.stack([s, y, gf], dim=2)).double()  # B × 2n × 3
            for col in (0, 1):
                index = 2 * slot + col
                new = torch.where(accept[:, None], dots[:, :, col], self.gram[rows, index, : 2 * n])
                self.gram[rows, index, : 2 * n] = new
                self.gram[rows, : 2 * n, index] = new
            yy = (y.double() ** 2).sum(1).clamp_min(1e-30)
            self.gamma = torch.where(accept, ys / yy, self.gamma)
            self.written[rows, slot] |= accept
            self.ptr = torch.where(accept, (slot + 1) % self.m, slot)
            direction = -self._inverse_hessian_times(gf, dots[:, :, 2])
        else:
            direction = -gf
        if self.k == 0 and self.first_step is not None:
            t = self.lr * self.first_step / gf.abs().amax(1).double().clamp_min(1e-30)
        elif self.k == 0:
            t = self.lr * (1.0 / gf.abs().sum(1).double()).clamp(max=1.0)
        else:
            t = self.lr
        if self.max_growth is not None and last_move is not None:
            move = t * direction.abs().amax(1).double()
            bound = (self.max_growth * last_move / move.clamp_min(1e-30)).clamp(max=1.0)
            t = t * torch.where(last_move > 0, bound, torch.ones_like(bound))  # a frozen sample has no scale
        self.k += 1
        self.prev_x, self.prev_g = xf.clone(), gf.clone()
        return (xf + t.float()[:, None] * direction).view_as(x)

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the samples where `keep` (bool, B) is True: the batch shrinks, each sample's state is its own."""
        self.lr = self.lr[keep]
        for name in ("prev_x", "prev_g", "basis", "gram", "written", "ptr", "gamma"):
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, value[keep])

    def _inverse_hessian_times(self, g: torch.Tensor, g_dots: torch.Tensor) -> torch.Tensor:
        """H g from the compact form; `g_dots` (B × 2n) are g's inner products with the filled slots."""
        n, batch = self.filled, g.shape[0]
        order = (self.ptr[:, None] % n + torch.arange(n, device=g.device)) % n  # oldest → newest slots

        def block(r: int, c: int) -> torch.Tensor:
            sub = self.gram[:, r : 2 * n : 2, c : 2 * n : 2]
            sub = sub.gather(1, order[:, :, None].expand(-1, -1, n))
            return sub.gather(2, order[:, None, :].expand(-1, n, -1))

        sy, yy = block(0, 1), block(1, 1)
        valid = self.written[:, :n].gather(1, order)
        gamma = self.gamma[:, None, None]
        r = torch.triu(sy) + torch.diag_embed((~valid).double())  # unused slots: identity rows, zero vectors
        u = g_dots[:, 0::2].gather(1, order)[:, :, None]
        v = gamma * g_dots[:, 1::2].gather(1, order)[:, :, None]
        w = torch.linalg.solve_triangular(r, u, upper=True)
        z = torch.diagonal(sy, dim1=1, dim2=2)[:, :, None] * w + gamma * torch.bmm(yy, w) - v
        top = torch.linalg.solve_triangular(r.transpose(1, 2), z, upper=False)
        coef = torch.zeros(batch, n, 2, dtype=torch.float64, device=g.device)
        coef[:, :, 0].scatter_(1, order, top[:, :, 0])
        coef[:, :, 1].scatter_(1, order, -(gamma * w)[:, :, 0])
        assert self.basis is not None
        used = self.basis[:, :n].reshape(batch, 2 * n, -1)
        combo = _combination(coef.reshape(batch, 1, 2 * n).float(), used)[:, 0]
        return self.gamma.float()[:, None] * g + combo


CHUNK = 8  # history vectors converted to fp32 at a time: a bf16 history never has a full fp32 copy


def _products(used: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """used @ vectors (B×k×D @ B×D×c) in fp32, whatever the history's dtype."""
    if used.dtype == torch.float32:
        return torch.bmm(used, vectors)
    return torch.cat([torch.bmm(part.float(), vectors) for part in torch.split(used, CHUNK, 1)], 1)


def _combination(coef: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """coef @ used (B×1×k @ B×k×D) in fp32, whatever the history's dtype."""
    if used.dtype == torch.float32:
        return torch.bmm(coef, used)
    parts = zip(torch.split(coef, CHUNK, 2), torch.split(used, CHUNK, 1))
    return sum((torch.bmm(c, u.float()) for c, u in parts), coef.new_zeros(coef.shape[0], 1, used.shape[2]))


class Adam:
    """Adam (Kingma & Ba, 2015) with a learning rate per sample; elementwise, so batching is exact."""

    def __init__(self, lr: torch.Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps, self.k = lr.float(), betas, eps, 0
        self.m1: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the samples where `keep` (bool, B) is True."""
        self.lr = self.lr[keep]
        if self.m1 is not None and self.m2 is not None:
            self.m1, self.m2 = self.m1[keep], self.m2[keep]

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        b1, b2 = self.betas
        grad = grad.float()
        if self.m1 is None:
            self.m1, self.m2 = torch.zeros_like(grad), torch.zeros_like(grad)
        assert self.m2 is not None
        self.k += 1
        self.m1.mul_(b1).add_(grad, alpha=1 - b1)
        self.m2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat = self.m1 / (1 - b1**self.k)
        v_hat = self.m2 / (1 - b2**self.k)
        lr = self.lr.view(-1, *([1] * (x.dim() - 1)))
        return x - lr * m_hat / (v_hat.sqrt() + self.eps)


IMAGE_FIRST_STEP = 0.05  # the first L-BFGS step moves no pixel (in [0, 1]) by more than this × lr
IMAGE_MAX_GROWTH = 10.0  # no L-BFGS step moves a pixel more than this × the previous step's largest move


HISTORY_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def make_optimizer(
    kind: str, lr: torch.Tensor, history: int, steps: int | None = None, history_precision: str = "fp32"
) -> Optimizer:
    """The image optimiser: L-BFGS (pixel-scaled first step, bounded step growth) or Adam, one lr per sample."""
    if kind == "lbfgs":
        return LBFGS(
            lr,
            history,
            steps,
            first_step=IMAGE_FIRST_STEP,
            max_growth=IMAGE_MAX_GROWTH,
            history_dtype=HISTORY_DTYPES[history_precision],
        )
    if kind == "adam":
        return Adam(lr)
    raise ValueError(f"optimizer: {kind!r} is not one of lbfgs, adam")


Objective = Callable[[torch.Tensor, int, torch.Tensor], LossTerms]
StepHook = Callable[[int, torch.Tensor, LossTerms, torch.Tensor], torch.Tensor]


def optimize(
    x: torch.Tensor, objective: Objective, optimizer: Optimizer, steps: int, on_step: StepHook
) -> torch.Tensor:
    """Run up to `steps` optimizer steps from `x` (B×3×H×W); one step is one forward and one backward.

    Only the live samples are computed: `objective(x_live, k, live)` gives their losses at step k (`live`
    holds their indices into the batch); `on_step(k, x, terms, live)` sees them before the update, may
    restore samples of `x` in place, and returns which live samples go on (bool per live sample). A sample
    that stops keeps its current image and leaves the batch, so the others' steps get cheaper.
    Returns the final iterate, projected into [0, 1].
    """
    x = x.detach().clone().contiguous()
    live = torch.arange(x.shape[0], device=x.device)
    for k in range(steps):
        if live.numel() == 0:
            break
        whole = live.numel() == x.shape[0]
        part = (x if whole else x.index_select(0, live)).detach().requires_grad_(True)
        terms = objective(part, k, live)
        (grad,) = torch.autograd.grad(terms.total.sum(), part)
        keep = on_step(k, x, terms, live)
        current = x.index_select(0, live)  # after any restore by on_step
        moved = optimizer.step(current, grad).clamp_(0, 1)
        x.index_copy_(0, live, torch.where(keep.view(-1, 1, 1, 1), moved, current))
        if not bool(keep.all()):
            optimizer.select(keep)
            live = live[keep]
    return x


class Stopping:
    """When a sample's optimisation stops early, per sample: converged, or diverged.

    Converged: its best loss improved by less than `tolerance` (relative) over the last `window` steps
    (tolerance 0: never). Diverged: its loss stayed above DIVERGED × its best for DIVERGED_STEPS steps
    in a row, a finite blow-up (a learning rate far too large) that the NaN guard does not see.
    """

    DIVERGED = 10.0
    DIVERGED_STEPS = 3

    def __init__(self, tolerance: torch.Tensor, window: torch.Tensor):
        self.tolerance, self.window = tolerance.double().cpu(), window.cpu()
        self.best = torch.full_like(self.tolerance, float("inf"))
        self.best_at = torch.zeros_like(self.window)
        self.above = torch.zeros_like(self.window)
        self.bests: list[torch.Tensor] = []  # best-so-far after each step (B), for the window

    def update(self, k: int, live: torch.Tensor, totals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Losses of the live samples at step k → (converged, diverged), bool per live sample.

        A non-finite loss is neither (the NaN guard handles it)."""
        live = live.cpu()
        loss = totals.detach().double().cpu()
        finite = torch.isfinite(loss)
        best = self.best[live]
        better = finite & (loss < best)
        self.best[live] = torch.where(better, loss, best)
        self.best_at[live] = torch.where(better, torch.full_like(live, k), self.best_at[live])
        high = finite & (loss > self.DIVERGED * self.best[live])
        self.above[live] = torch.where(high, self.above[live] + 1, torch.zeros_like(live))
        self.bests.append(self.best.clone())
        diverged = self.above[live] >= self.DIVERGED_STEPS
        window = self.window[live]
        converged = torch.zeros_like(diverged)
        for i, (b, w) in enumerate(zip(live.tolist(), window.tolist())):
            tol = float(self.tolerance[b])
            if tol > 0 and k >= w:
                then, now = float(self.bests[k - w][b]), float(self.best[b])
                converged[i] = then - now <= tol * abs(now)
        return converged & ~diverged, diverged
