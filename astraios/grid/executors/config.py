"""The `executor:` section of a grid config: where jobs run and, on Ray, what each job asks for."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from astraios.config import ConfigError
from astraios.core.schema import Strict


class ResourceRule(Strict):
    up_to_parameters: float | None = Field(None, gt=0, description="base models up to this many parameters; "
                                                                    "null = any size")
    methods: list[str] | None = Field(None, description="only these methods; null = every method")
    gpus: int = Field(1, ge=0, description="GPUs of one node for the job; more than 1 trains under FSDP")
    cpus: float = Field(1, gt=0, description="CPUs for the job (all it asks for on a cluster without GPUs)")
    accelerate_config: str | None = Field(None, description="accelerate config for jobs over several GPUs "
                                                            "(relative to the grid file); null = FSDP2 as "
                                                            "configs/accelerate/fsdp.yaml")

    def matches(self, parameters: int | None, method: str) -> bool:
        fits = self.up_to_parameters is None or (parameters is not None and parameters <= self.up_to_parameters)
        return fits and (self.methods is None or method in self.methods)


DEFAULT_RESOURCES = [
    ResourceRule(up_to_parameters=8e9, gpus=1, cpus=4),
    ResourceRule(methods=["full"], gpus=8, cpus=32),  # StarCoderBase-15B full fine-tuning: 16 bytes a parameter
    ResourceRule(gpus=4, cpus=16),
]


class ExecutorConfig(Strict):
    name: Literal["local", "ray"] = Field("local", description="local: this machine; ray: a Ray cluster")
    address: str | None = Field(None, description="ray: `auto` (the running cluster), `ray://HOST:10001`, or null "
                                                  "to start a local cluster")
    max_retries: int = Field(2, ge=0, description="ray: resubmissions of a job whose worker died")
    resources: list[ResourceRule] = Field(default_factory=lambda: list(DEFAULT_RESOURCES),
                                          description="ray: what a job asks for, first matching rule")

    @model_validator(mode="after")
    def _ray_fields_need_ray(self):
        if self.name == "local" and self.address is not None:
            raise ValueError(f"address {self.address!r} applies to the ray executor only. Fix: choose it "
                             f"(`executor: {{name: ray}}` in the grid, or --executor ray), or drop the address")
        return self

    def rule_for(self, parameters: int | None, method: str) -> ResourceRule:
        for rule in self.resources:
            if rule.matches(parameters, method):
                return rule
        raise ConfigError(f"executor.resources has no rule for method {method} on a base of {parameters or '?'} "
                          f"parameters. Fix: end the list with a rule without up_to_parameters and methods.")
