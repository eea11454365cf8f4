"""Trainers: SFT (TRL SFTTrainer), SPIN (TRL DPOTrainer: SPIN's loss is DPO's with
chosen = real, rejected = generated), T-SPIN (a triplet trainer, see triplet.py)."""
