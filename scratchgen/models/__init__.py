"""Generative models built from scratchgen.nn: autoencoder.py, vae.py, gan.py, ddpm.py (with unet.py),
pixelcnn.py, pixelrnn.py, and classifier.py (the judge of the sample metrics); blocks.py holds what several
share."""
from .autoencoder import Autoencoder, corrupt, pca_reconstruct
from .blocks import check_images
from .vae import VAE

MODELS = {"ae": Autoencoder, "vae": VAE}

__all__ = ["MODELS", "Autoencoder", "VAE", "check_images", "corrupt", "pca_reconstruct"]
