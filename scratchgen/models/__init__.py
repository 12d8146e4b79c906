"""Generative models built from scratchgen.nn: autoencoders and VAEs (more families to come)."""
from .autoencoder import Autoencoder, corrupt, pca_reconstruct
from .blocks import check_images
from .vae import VAE

MODELS = {"ae": Autoencoder, "vae": VAE}

__all__ = ["MODELS", "Autoencoder", "VAE", "check_images", "corrupt", "pca_reconstruct"]
