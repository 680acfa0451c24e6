"""QM9 benchmark: molecular properties (invariants, the dipole as a vector, the polarizability as a
``0e + 2e`` tensor) with implicit ``O(3)`` kernels, escnn's analytic kernels, EGNN and a
non-equivariant baseline."""
