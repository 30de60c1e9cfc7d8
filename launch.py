"""steerlab entrypoint: compose the Hydra config (conf/) and run one steering experiment per job."""

import sys
import warnings

import hydra
from omegaconf import DictConfig

from steerlab.cli import check_outputs, task, tidy_errors
from steerlab.config_store import register_configs

register_configs()
# conf/hydra/launcher/submitit_*.yaml set steerlab's defaults over the plugin's schema of the same name;
# Hydra validates them against it (what we want) and warns that such matching is deprecated.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/submitit_\w+' is validated against ConfigStore schema")


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    return task(cfg)


if __name__ == "__main__":
    with tidy_errors():
        check_outputs(sys.argv[1:])
        main()
