"""Mesh benchmark: gauge-equivariant convolutions on random smooth closed surfaces (deformed spheres, tori)."""
