"""Training: a validated config, the seeded and exactly resumable loop, checkpoints, logs, the CLI.

>>> from disentkit.train import TrainConfig, train, load_run
>>> run = train(TrainConfig(method="beta_vae", dataset="dsprites", steps=1000), "runs/bvae")
>>> model = load_run(run)          # a Method in eval mode: model.represent(images) -> codes
"""

from disentkit.train.config import TrainConfig
from disentkit.train.trainer import CheckpointWarning, NonFiniteLossError, load_config, load_run, train

__all__ = ["CheckpointWarning", "NonFiniteLossError", "TrainConfig", "load_config", "load_run", "train"]
