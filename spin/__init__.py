"""spin-replication: self-play fine-tuning (SPIN, T-SPIN) reproduced end to end."""

__version__ = "0.1.0"
