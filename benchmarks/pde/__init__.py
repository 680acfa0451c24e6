"""PDE forecasting data: 2D smoke, 3D Maxwell and 2+1D electrodynamics simulators as multivector fields."""
