import pytest
import torch

from nstlib.run.optimize import LBFGS, Adam


def _objective():
    torch.manual_seed(0)
    a = torch.randn(40, 40)
    q = a @ a.T / 40 + 0.1 * torch.eye(40)
    return lambda x: 0.5 * (x @ q * x).sum(-1) + 0.01 * (x**4).sum(-1) + x.sum(-1)


def _torch_run(opt_cls, x0, steps, f, **kw):
    x = x0.clone().requires_grad_(True)
    opt = opt_cls([x], **kw)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return x.detach()


def _ours(opt, x0, steps, f):
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(f(x).sum(), x)
        x = opt.step(x.detach(), g)
    return x


@pytest.mark.parametrize("history", [3, 100])
def test_batched_lbfgs_is_torch_lbfgs_per_sample(history):
    f = _objective()
    x0 = torch.randn(3, 40)
    lrs = [1.0, 0.5, 0.8]
    ours = _ours(LBFGS(torch.tensor(lrs), history), x0, 25, f)
    for b, lr in enumerate(lrs):
        ref = _torch_run(
            torch.optim.LBFGS,
            x0[b],
            25,
            f,
            lr=lr,
            max_iter=1,
            history_size=history,
            tolerance_grad=-1,
            tolerance_change=-1,
        )
        assert torch.allclose(ours[b], ref, atol=1e-4), (b, (ours[b] - ref).abs().max())


def test_batched_adam_is_torch_adam_per_sample():
    f = _objective()
    x0 = torch.randn(2, 40)
    ours = _ours(Adam(torch.tensor([0.05, 0.01])), x0, 30, f)
    for b, lr in enumerate([0.05, 0.01]):
        ref = _torch_run(torch.optim.Adam, x0[b], 30, f, lr=lr)
        assert torch.allclose(ours[b], ref, atol=1e-5)


def test_pixel_scaled_first_step():
    x = torch.zeros(2, 5)
    g = torch.tensor([[1e9, -4e9, 0, 0, 2e9], [1.0, 0.5, 0, 0, 0]])
    step = LBFGS(torch.tensor([1.0, 2.0]), 10, first_step=0.05).step(x, g)
    assert step.abs().amax(1).tolist() == pytest.approx([0.05, 0.10])
    assert step[0, 1].item() == pytest.approx(0.05) and step[0, 0].item() == pytest.approx(-0.0125)


def test_step_growth_is_bounded_per_sample():
    opt = LBFGS(torch.tensor([1.0, 1.0]), 10, first_step=0.05, max_growth=10.0)
    x0 = torch.zeros(2, 4)
    x1 = opt.step(x0, torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
    # a gradient barely changed by the first step: the secant pair extrapolates far (1/0.001 = 1000×)
    x2 = opt.step(x1, torch.tensor([[0.999, 0, 0, 0], [0.999, 0, 0, 0]]))
    assert (x2 - x1).abs().amax(1).tolist() == pytest.approx([0.5, 0.5])
    unbounded = LBFGS(torch.tensor([1.0]), 10, first_step=0.05)
    y1 = unbounded.step(x0[:1], torch.tensor([[1.0, 0, 0, 0]]))
    assert (unbounded.step(y1, torch.tensor([[0.999, 0, 0, 0]])) - y1).abs().max() > 1.0


def test_bf16_history_halves_the_memory_and_stays_consistent():
    """history_precision bf16: the pairs are stored rounded, in half the bytes; the compact form's inner
    products are those of the stored vectors (else H would not be the L-BFGS matrix of any pairs), and
    the descent matches fp32's."""
    f = _objective()
    x0 = torch.randn(2, 40)
    start = f(x0)
    full = LBFGS(torch.ones(2), 20)
    half = LBFGS(torch.ones(2), 20, history_dtype=torch.bfloat16)
    x32, x16 = _ours(full, x0, 8, f), _ours(half, x0, 8, f)
    assert half.basis is not None and full.basis is not None and half.basis.dtype == torch.bfloat16
    assert half.basis.element_size() * 2 == full.basis.element_size()
    n = half.filled
    stored = half.basis[:, :n].reshape(2, 2 * n, -1).double()
    products = torch.bmm(stored, stored.transpose(1, 2))
    torch.testing.assert_close(half.gram[:, : 2 * n, : 2 * n], products, rtol=1e-5, atol=1e-6)
    drop32, drop16 = start - f(x32), start - f(x16)
    assert ((drop16 - drop32).abs() <= 0.02 * drop32).all(), (drop16, drop32)


def _stopping(losses, tolerance=1e-3, window=3):
    """Feed one sample's loss sequence to Stopping; the step it converged or diverged at (None: neither)."""
    from nstlib.run.optimize import Stopping

    rule = Stopping(torch.tensor([tolerance]), torch.tensor([window]))
    live = torch.tensor([0])
    for k, value in enumerate(losses):
        converged, diverged = rule.update(k, live, torch.tensor([value]))
        if converged.item():
            return "converged", k
        if diverged.item():
            return "diverged", k
    return None


def test_stopping_converges_when_the_best_loss_stops_improving():
    # best improves by 1e-4 relative per step after step 3: under 1e-3 over a 3-step window from step 6
    losses = [10.0, 5.0, 2.0, 1.0, 0.9999, 0.9998, 0.9997, 0.9996]
    assert _stopping(losses) == ("converged", 6)
    assert _stopping(losses, tolerance=0) is None  # 0: every step runs
    assert _stopping([10.0 / (k + 1) for k in range(30)]) is None  # still improving fast


def test_stopping_ignores_a_loss_that_bounces_but_keeps_finding_lower():
    # L-BFGS without line search is not monotone: rises between new bests are not convergence
    losses = [10.0, 12.0, 8.0, 9.0, 6.0, 7.0, 4.0, 5.0, 2.0]
    assert _stopping(losses) is None


def test_stopping_flags_a_finite_blow_up_not_a_jump():
    assert _stopping([1.0, 0.5, 30.0, 60.0, 90.0], tolerance=0) == ("diverged", 4)
    assert _stopping([1.0, 0.5, 30.0, 60.0, 0.4, 0.3], tolerance=0) is None  # 2 steps high, then recovers


def test_optimizers_select_keeps_each_samples_state():
    """A batch of two shrunk to its second sample at step 4 goes on as that sample alone from the start."""
    f = _objective()
    torch.manual_seed(1)
    x0 = torch.randn(2, 40)

    def run(opt, x, drop_at=None):
        for k in range(8):
            if k == drop_at:
                opt.select(torch.tensor([False, True]))
                x = x[1:]
            z = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(f(z).sum(), z)
            x = opt.step(x, g)
        return x

    for make in (lambda n: LBFGS(torch.ones(n), history=5), lambda n: Adam(torch.full((n,), 0.05))):
        shrunk = run(make(2), x0.clone(), drop_at=4)
        alone = run(make(1), x0[1:].clone())
        assert torch.allclose(shrunk, alone, atol=1e-5), (shrunk - alone).abs().max()
