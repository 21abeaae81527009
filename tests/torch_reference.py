"""torch.optim counterparts of optiscope settings, shared by the conformance tests."""

import torch

from optiscope.schedules import KEYS

TORCH_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "nesterov": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
}


def torch_optimizer(name: str, setting: dict, param: torch.Tensor) -> torch.optim.Optimizer:
    """The torch.optim optimizer of a resolved optiscope setting (single-tensor path).

    optiscope's names are torch's keywords, except Adam's ``beta1, beta2`` (torch: ``betas``);
    schedule keys and ``momentum_form`` have no torch keyword and are left out.
    """
    kwargs = {k: v for k, v in setting.items() if k not in KEYS and k != "momentum_form"}
    if "beta1" in kwargs:
        kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
    return TORCH_OPTIMIZERS[name]([param], foreach=False, **kwargs)
