"""steerlab entrypoint: compose the Hydra config and run one steering experiment."""
import hydra
from omegaconf import DictConfig

from steerlab.cli import tidy_errors
from steerlab.config import register_configs

register_configs()


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from steerlab.run import run  # heavy imports only after the config composed

    return run(cfg)


if __name__ == "__main__":
    with tidy_errors():
        main()
