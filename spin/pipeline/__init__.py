"""The self-play loop as a graph of stages with content-hashed, atomic, resumable outputs."""
