"""scratchgen: generative models for images from scratch in NumPy."""
