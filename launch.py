"""steerlab entrypoint: compose the Hydra config (conf/) and run one steering experiment per job."""
import hydra
from omegaconf import DictConfig

from steerlab.cli import task, tidy_errors
from steerlab.config import register_configs

register_configs()


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    return task(cfg)


if __name__ == "__main__":
    with tidy_errors():
        main()
