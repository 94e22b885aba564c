"""A prior fitted to where poems actually encode: a Gaussian mixture over the
posterior means of training poems ("ex-post density estimation", Ghosh et
al. 2020, "From Variational to Deterministic Autoencoders"; the second stage
of Dai and Wipf 2019).

A VAE trained to carry its poem in z leaves holes in N(0, I) between the
places real poems encode to; a latent drawn from N(0, I) lands in them and
decodes to noise. The mixture is fitted by EM after training and stored in
the checkpoint's safetensors beside the weights (`prior.*` tensors).
"""

from __future__ import annotations

import math

import torch

PREFIX = "prior."


class GaussianMixture:
    """K full-covariance Gaussians over R^D: weights (K,), means (K, D), and the
    Cholesky factors of the covariances, scale_tril (K, D, D)."""

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor):
        K, D = means.shape
        if weights.shape != (K,) or scale_tril.shape != (K, D, D):
            raise ValueError(
                f"a mixture of {K} components in {D} dimensions needs weights ({K},) and scale_tril ({K}, {D}, {D})"
            )
        if not (torch.isfinite(weights).all() and torch.isfinite(means).all() and torch.isfinite(scale_tril).all()):
            raise ValueError("the mixture holds non-finite numbers")
        self.weights = weights.double() / weights.double().sum()
        self.means = means.float()
        self.scale_tril = scale_tril.float()
        self.cdf = self.weights.cumsum(0)

    @property
    def components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    # -- sampling: one component uniform and D normals per draw, from the caller's generator --------
    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """One latent (D,) drawn with `generator` alone, so a seed gives the same
        latent whatever else is drawn beside it."""
        u = torch.rand(1, generator=generator, dtype=torch.float64)
        eps = torch.randn(self.dim, generator=generator)
        k = int(torch.searchsorted(self.cdf, u * self.cdf[-1]).clamp(max=self.components - 1))
        return self.means[k] + self.scale_tril[k] @ eps

    # -- density and fitting ------------------------------------------------------------------
    def log_prob_components(self, x: torch.Tensor) -> torch.Tensor:
        """log(w_k) + log N(x | m_k, S_k) for every point and component: (N, K)."""
        x = x.double()
        out = []
        for k in range(self.components):
            L = self.scale_tril[k].double()
            diff = (x - self.means[k].double()).T  # (D, N)
            sol = torch.linalg.solve_triangular(L, diff, upper=False)  # (D, N)
            maha = sol.pow(2).sum(0)  # (N,)
            logdet = 2 * torch.log(torch.diagonal(L)).sum()
            out.append(-0.5 * (maha + logdet + self.dim * math.log(2 * math.pi)))
        return torch.stack(out, dim=1) + torch.log(self.weights)[None]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Mean log-density of points (N, D) under the mixture, in nats."""
        return torch.logsumexp(self.log_prob_components(x), dim=1).mean()

    @classmethod
    def fit(
        cls,
        x: torch.Tensor,
        components: int = 64,
        iterations: int = 60,
        seed: int = 0,
        reg: float = 1e-3,
        tol: float = 1e-4,
    ) -> GaussianMixture:
        """EM from k-means++ seeds. `reg` is added to every covariance's diagonal
        (a floor that keeps thin components invertible)."""
        x = x.double()
        N, D = x.shape
        if N < components:
            raise ValueError(f"fitting {components} components needs at least as many points; got {N}")
        g = torch.Generator().manual_seed(seed)
        means = _kmeans_pp(x, components, g)
        resp = torch.zeros(N, components, dtype=torch.float64)
        resp[torch.arange(N), torch.cdist(x, means).argmin(1)] = 1.0
        last = -math.inf
        mix = None
        for _ in range(iterations):
            mix = cls._m_step(x, resp, reg)
            logp = mix.log_prob_components(x)  # (N, K)
            total = torch.logsumexp(logp, dim=1)
            resp = torch.exp(logp - total[:, None])
            ll = float(total.mean())
            if ll - last < tol:
                break
            last = ll
        return mix

    @classmethod
    def _m_step(cls, x: torch.Tensor, resp: torch.Tensor, reg: float) -> GaussianMixture:
        N, D = x.shape
        nk = resp.sum(0) + 1e-10  # (K,)
        means = (resp.T @ x) / nk[:, None]  # (K, D)
        trils = []
        for k in range(resp.shape[1]):
            diff = x - means[k]
            cov = (resp[:, k, None] * diff).T @ diff / nk[k] + reg * torch.eye(D, dtype=x.dtype)
            trils.append(torch.linalg.cholesky(cov))
        return cls(nk / N, means, torch.stack(trils))

    # -- storage ------------------------------------------------------------------------------------
    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {
            f"{PREFIX}weights": self.weights.float(),
            f"{PREFIX}means": self.means,
            f"{PREFIX}scale_tril": self.scale_tril,
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> GaussianMixture:
        try:
            return cls(
                tensors[f"{PREFIX}weights"].float(),
                tensors[f"{PREFIX}means"].float(),
                tensors[f"{PREFIX}scale_tril"].float(),
            )
        except KeyError as e:
            raise ValueError(f"the prior is missing {e.args[0]}") from None


def _kmeans_pp(x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur and Vassilvitskii 2007), then 10 Lloyd iterations."""
    N = x.shape[0]
    centres = [x[int(torch.randint(N, (1,), generator=g))]]
    d2 = torch.cdist(x, centres[0][None]).pow(2).squeeze(1)
    for _ in range(k - 1):
        i = int(torch.multinomial(d2 / d2.sum(), 1, generator=g))
        centres.append(x[i])
        d2 = torch.minimum(d2, torch.cdist(x, x[i][None]).pow(2).squeeze(1))
    c = torch.stack(centres)
    for _ in range(10):
        assign = torch.cdist(x, c).argmin(1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return c
