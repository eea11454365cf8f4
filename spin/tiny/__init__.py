"""The tiny preset: a Mistral-architecture model small enough to train on a CPU in
seconds, a locally trained tokenizer, and generated tasks with exactly checkable answers."""
