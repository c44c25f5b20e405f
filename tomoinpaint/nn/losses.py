"""Content and adversarial losses of both stages.

Generator objective (Ding et al., 2019): ``mse + gan_weight * adversarial``.

Adversarial losses take the discriminator's raw scores (patch maps or one score
per sample, any shape) for real samples ``d_real`` and generated samples
``d_fake``; means run over every element (batch and patches).

* ``"lsgan"``: least-squares GAN (Mao et al., 2017) with targets 1 (real) and
  0 (fake):
  ``D: 1/2 E[(d_real - 1)^2] + 1/2 E[d_fake^2]``,
  ``G: 1/2 E[(d_fake - 1)^2]``.
* ``"rlsgan"``: relativistic average least squares (Jolicoeur-Martineau, 2018),
  the form ESRGAN uses with a BCE criterion, here with squares: with
  ``r = d_real - E[d_fake]`` and ``f = d_fake - E[d_real]``,
  ``D: 1/2 E[(r - 1)^2] + 1/2 E[(f + 1)^2]``,
  ``G: 1/2 E[(f - 1)^2] + 1/2 E[(r + 1)^2]``.

None of the functions detaches anything: when computing the discriminator loss
pass ``d_fake`` of a detached generator output; for the generator loss,
``d_real`` may be detached (it does not depend on the generator).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "mse_loss",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "rlsgan_d_loss",
    "rlsgan_g_loss",
    "AdversarialLoss",
    "ADVERSARIAL_LOSSES",
    "GeneratorLoss",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (content loss).

    Parameters
    ----------
    output, target : torch.Tensor, same shape
        E.g. (B, 1, n_angles, n_det) sinograms or (B, 1, n, n) slices.

    Returns
    -------
    torch.Tensor, scalar
    """
    if output.shape != target.shape:
        raise ValueError(
            f"output {tuple(output.shape)} and target {tuple(target.shape)} differ in shape"
        )
    return F.mse_loss(output, target)


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss; zero iff ``d_real == 1`` and ``d_fake == 0``.

    Parameters
    ----------
    d_real, d_fake : torch.Tensor
        Raw discriminator scores for real / generated samples (any shapes).

    Returns
    -------
    torch.Tensor, scalar
    """
    return 0.5 * ((d_real - 1.0) ** 2).mean() + 0.5 * (d_fake**2).mean()


def lsgan_g_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss; zero iff ``d_fake == 1``. ``d_real`` is unused.

    Parameters
    ----------
    d_real, d_fake : torch.Tensor
        Raw discriminator scores for real / generated samples (any shapes).

    Returns
    -------
    torch.Tensor, scalar
    """
    del d_real  # same signature as the relativistic loss
    return 0.5 * ((d_fake - 1.0) ** 2).mean()


def rlsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Relativistic average least-squares discriminator loss.

    Zero iff every real score exceeds the mean fake score by 1 and every fake
    score is 1 below the mean real score (e.g. ``d_real == 0.5``,
    ``d_fake == -0.5``).

    Parameters
    ----------
    d_real, d_fake : torch.Tensor
        Raw discriminator scores for real / generated samples (any shapes).

    Returns
    -------
    torch.Tensor, scalar
    """
    r = d_real - d_fake.mean()
    f = d_fake - d_real.mean()
    return 0.5 * ((r - 1.0) ** 2).mean() + 0.5 * ((f + 1.0) ** 2).mean()


def rlsgan_g_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Relativistic average least-squares generator loss (roles of real/fake swapped).

    Zero iff generated samples score 1 above the mean real score and real ones
    1 below the mean fake score (e.g. ``d_fake == 0.5``, ``d_real == -0.5``).

    Parameters
    ----------
    d_real, d_fake : torch.Tensor
        Raw discriminator scores for real / generated samples (any shapes).

    Returns
    -------
    torch.Tensor, scalar
    """
    r = d_real - d_fake.mean()
    f = d_fake - d_real.mean()
    return 0.5 * ((f - 1.0) ** 2).mean() + 0.5 * ((r + 1.0) ** 2).mean()


@dataclass(frozen=True)
class AdversarialLoss:
    """A pair of discriminator and generator losses, both ``(d_real, d_fake) -> scalar``."""

    d_loss: LossFn
    g_loss: LossFn
    needs_real_for_g: bool


#: Adversarial loss by name.
ADVERSARIAL_LOSSES: dict[str, AdversarialLoss] = {
    "lsgan": AdversarialLoss(lsgan_d_loss, lsgan_g_loss, needs_real_for_g=False),
    "rlsgan": AdversarialLoss(rlsgan_d_loss, rlsgan_g_loss, needs_real_for_g=True),
}


@dataclass(frozen=True)
class GeneratorLoss:
    """Generator objective ``mse(output, target) + gan_weight * adversarial``.

    With ``gan_weight == 0`` no discriminator is needed (plain MSE training).
    The paper does not give the weight of its GAN term; ESRGAN uses 5e-3
    next to its content losses.

    Parameters
    ----------
    gan_weight : float
        Weight of the adversarial term, >= 0.
    adversarial : str
        A key of :data:`ADVERSARIAL_LOSSES` (``"lsgan"`` or ``"rlsgan"``).

    Examples
    --------
    >>> plain = GeneratorLoss(gan_weight=0.0)
    >>> total, parts = plain(output, target)  # doctest: +SKIP
    >>> gan = GeneratorLoss(5e-3, "rlsgan")
    >>> total, parts = gan(output, target, d_fake, d_real)  # doctest: +SKIP
    >>> d_total = gan.discriminator_loss(d_real, d_fake.detach())  # doctest: +SKIP
    """

    gan_weight: float = 0.0
    adversarial: str = "lsgan"

    def __post_init__(self) -> None:
        w = self.gan_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0.0:
            raise ValueError(f"gan_weight must be a number >= 0, got {w!r}")
        if self.adversarial not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"unknown adversarial loss {self.adversarial!r}; choose one of "
                f"{sorted(ADVERSARIAL_LOSSES)}"
            )

    @property
    def needs_discriminator(self) -> bool:
        """Whether the adversarial term is used (``gan_weight > 0``)."""
        return self.gan_weight > 0.0

    def __call__(
        self,
        output: torch.Tensor,
        target: torch.Tensor,
        d_fake: torch.Tensor | None = None,
        d_real: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total generator loss and its parts.

        Parameters
        ----------
        output, target : torch.Tensor, same shape
            Generator output and ground truth.
        d_fake : torch.Tensor, optional
            Discriminator scores of ``output`` (with gradient to the generator);
            required when ``gan_weight > 0``.
        d_real : torch.Tensor, optional
            Discriminator scores of ``target``; required for ``"rlsgan"``.

        Returns
        -------
        total : torch.Tensor, scalar
            Differentiable loss.
        parts : dict of str to float
            ``{"mse": ..., "adversarial": ..., "total": ...}`` (detached floats;
            ``adversarial`` is 0 when unused).
        """
        mse = mse_loss(output, target)
        if not self.needs_discriminator:
            v = float(mse.detach())
            return mse, {"mse": v, "adversarial": 0.0, "total": v}
        adv_fns = ADVERSARIAL_LOSSES[self.adversarial]
        if d_fake is None:
            raise ValueError("gan_weight > 0: pass d_fake, the discriminator scores of output")
        if d_real is None:
            if adv_fns.needs_real_for_g:
                raise ValueError(
                    f"adversarial={self.adversarial!r} needs d_real, the scores of target"
                )
            d_real = d_fake.detach()  # unused by the loss
        adv = adv_fns.g_loss(d_real, d_fake)
        total = mse + self.gan_weight * adv
        return total, {
            "mse": float(mse.detach()),
            "adversarial": float(adv.detach()),
            "total": float(total.detach()),
        }

    def discriminator_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """The matching discriminator loss (pass ``d_fake`` of a detached output).

        Raises
        ------
        ValueError
            If ``gan_weight == 0`` (there is no discriminator to train).
        """
        if not self.needs_discriminator:
            raise ValueError("gan_weight == 0: this objective has no discriminator")
        return ADVERSARIAL_LOSSES[self.adversarial].d_loss(d_real, d_fake)
