"""The registry of steering methods: name -> (config dataclass, class). Adding a method is one line here."""

from __future__ import annotations

from steerlab.methods.ablate import AblateConfig, AblateMethod
from steerlab.methods.base import Method
from steerlab.methods.dora import DoRAConfig, DoRAMethod
from steerlab.methods.imported import ControlVectorConfig, ControlVectorMethod
from steerlab.methods.ipissa import IPissaConfig, IPissaMethod
from steerlab.methods.jacobian import JacobianConfig, JacobianMethod
from steerlab.methods.lora import LoRAConfig, LoRAMethod
from steerlab.methods.mean import MeanConfig, MeanMethod
from steerlab.methods.oft import OFTAdapterConfig, OFTMethod
from steerlab.methods.pca import PCAConfig, PCAMethod
from steerlab.methods.pissa import PiSSAConfig, PiSSAMethod
from steerlab.methods.probe import ProbeConfig, ProbeMethod
from steerlab.methods.prompt import PromptConfig, PromptMethod
from steerlab.methods.random_dir import RandomConfig, RandomMethod
from steerlab.methods.svd_delta import SVDDeltaConfig, SVDDeltaMethod
from steerlab.registry import Registry

METHODS = Registry(
    "method",
    {
        "mean": (MeanConfig, MeanMethod),
        "pca": (PCAConfig, PCAMethod),
        "random": (RandomConfig, RandomMethod),
        "svd_delta": (SVDDeltaConfig, SVDDeltaMethod),
        "prompt": (PromptConfig, PromptMethod),
        "probe": (ProbeConfig, ProbeMethod),
        "jacobian": (JacobianConfig, JacobianMethod),
        "ablate": (AblateConfig, AblateMethod),
        "control_vector": (ControlVectorConfig, ControlVectorMethod),
        "ipissa": (IPissaConfig, IPissaMethod),
        "lora": (LoRAConfig, LoRAMethod),
        "dora": (DoRAConfig, DoRAMethod),
        "pissa": (PiSSAConfig, PiSSAMethod),
        "oft": (OFTAdapterConfig, OFTMethod),
    },
)


def build(cfg) -> Method:
    """A method from its config (DictConfig, dataclass or dict with `name`), validated against its schema."""
    typed_cfg, (_, cls) = METHODS.resolve(cfg, "adapter")
    return cls(typed_cfg)


def trainable_names() -> list[str]:
    """Methods trained by steerlab.train (the contract tests run over these)."""
    return sorted(n for n, (_, cls) in METHODS.items() if cls.is_trained)
