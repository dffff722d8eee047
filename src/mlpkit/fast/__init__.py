"""The fast path: the trainer's reused-buffer step and the optional compiled kernels, tested equal."""
