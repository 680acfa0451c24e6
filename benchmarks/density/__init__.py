"""Electron densities of water clusters as density-fitting coefficients (see the README)."""
